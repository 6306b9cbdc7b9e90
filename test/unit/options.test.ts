import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError, UnsupportedError } from '../../src/errors';
import { NETWORK_OPTIONS, OPT, parseNetworkOptions, parsePortMap } from '../../src/driver/options';

const generic = (user: Record<string, unknown>): Record<string, unknown> => ({ [OPT.generic]: user });

describe('driver/options: parseNetworkOptions', () => {
  test('Docker\'s usual options with no -o give the defaults', () => {
    assert.deepEqual(parseNetworkOptions({}), { internal: false, mtu: undefined });
    assert.deepEqual(parseNetworkOptions({ [OPT.enableIpv6]: false, [OPT.generic]: {} }), { internal: false, mtu: undefined });
    assert.deepEqual(parseNetworkOptions({ [OPT.generic]: null }), { internal: false, mtu: undefined });
  });

  test('option keys are the ones Docker sends', () => {
    assert.equal(OPT.generic, 'com.docker.network.generic');
    assert.equal(OPT.internal, 'com.docker.network.internal');
    assert.equal(OPT.enableIpv6, 'com.docker.network.enable_ipv6');
    assert.equal(OPT.mtu, 'com.docker.network.driver.mtu');
    assert.equal(OPT.portmap, 'com.docker.network.portmap');
    assert.deepEqual(Object.keys(NETWORK_OPTIONS), ['com.docker.network.driver.mtu']);
  });

  test('an unknown -o key is refused, listed with the known ones', () => {
    assert.throws(
      () => parseNetworkOptions(generic({ 'com.docker.network.bridge.name': 'br0', foo: 'bar' })),
      (err: unknown) =>
        err instanceof InvalidOptionError &&
        err.message.includes('-o com.docker.network.bridge.name, -o foo') &&
        err.message.includes('podnet understands com.docker.network.driver.mtu'),
    );
  });

  test('an -o key that is an Object.prototype name is refused too', () => {
    assert.throws(() => parseNetworkOptions(generic({ constructor: '1' })), InvalidOptionError);
    assert.throws(() => parseNetworkOptions(generic({ toString: '1' })), InvalidOptionError);
  });

  test('mtu: arrives as a string, parsed; 576-65535', () => {
    assert.equal(parseNetworkOptions(generic({ [OPT.mtu]: '1400' })).mtu, 1400);
    assert.equal(parseNetworkOptions(generic({ [OPT.mtu]: '576' })).mtu, 576);
    assert.equal(parseNetworkOptions(generic({ [OPT.mtu]: '65535' })).mtu, 65535);
    assert.equal(parseNetworkOptions(generic({ [OPT.mtu]: 9000 })).mtu, 9000, 'a number is accepted too');
    for (const bad of ['575', '65536', '0', '', 'jumbo', '1400.5', '-1400', ' 1400', '1e3']) {
      assert.throws(
        () => parseNetworkOptions(generic({ [OPT.mtu]: bad })),
        (err: unknown) => err instanceof InvalidOptionError && err.message.includes(`-o com.docker.network.driver.mtu=${bad} is invalid`) && /576 to 65535/.test(err.message),
        JSON.stringify(bad),
      );
    }
  });

  test('internal: only a true --internal flag', () => {
    assert.equal(parseNetworkOptions({ [OPT.internal]: true }).internal, true);
    assert.equal(parseNetworkOptions({ [OPT.internal]: false }).internal, false);
    assert.equal(parseNetworkOptions({ [OPT.internal]: 'true' }).internal, false);
  });

  test('enable_ipv6 is refused', () => {
    assert.throws(() => parseNetworkOptions({ [OPT.enableIpv6]: true }), (err: unknown) => err instanceof UnsupportedError && /without --ipv6/.test(err.message));
  });
});

describe('driver/options: parsePortMap', () => {
  const b = (over: Record<string, unknown>): Record<string, unknown> => ({ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080, ...over });

  test('null, undefined and [] give no ports', () => {
    assert.deepEqual(parsePortMap(null), []);
    assert.deepEqual(parsePortMap(undefined), []);
    assert.deepEqual(parsePortMap([]), []);
  });

  test('tcp, udp and sctp', () => {
    assert.deepEqual(parsePortMap([b({}), b({ Proto: 17, Port: 53, HostPort: 5353, HostPortEnd: 5353 }), b({ Proto: 132, Port: 9, HostPort: 9999, HostPortEnd: 0 })]), [
      { protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 },
      { protocol: 'udp', hostIp: '', hostPort: 5353, containerPort: 53 },
      { protocol: 'sctp', hostIp: '', hostPort: 9999, containerPort: 9 },
    ]);
  });

  test('an unknown protocol number is refused', () => {
    assert.throws(() => parsePortMap([b({ Proto: 1 })]), /unsupported protocol number 1.*tcp, udp or sctp/);
  });

  test('HostPort 0 (-p 80, -P) is refused, asking for an explicit host port', () => {
    assert.throws(
      () => parsePortMap([b({ HostPort: 0, HostPortEnd: 0 })]),
      (err: unknown) => err instanceof InvalidOptionError && /explicit host port/.test(err.message) && err.message.includes('-p 80:80/tcp'),
    );
    assert.throws(() => parsePortMap([b({ HostPort: undefined, HostPortEnd: undefined })]), /explicit host port/);
  });

  test('host port ranges are refused', () => {
    assert.throws(
      () => parsePortMap([b({ HostPort: 8000, HostPortEnd: 8010 })]),
      (err: unknown) => err instanceof InvalidOptionError && /range 8000-8010 is not supported/.test(err.message),
    );
  });

  test('bad port numbers are refused', () => {
    assert.throws(() => parsePortMap([b({ Port: 0 })]), /container port 0 is invalid/);
    assert.throws(() => parsePortMap([b({ Port: 70000 })]), /container port 70000/);
    assert.throws(() => parsePortMap([b({ HostPort: 70000, HostPortEnd: 70000 })]), /host port 70000 is invalid/);
  });

  test('HostIP: 0.0.0.0 means every address (""), a specific IPv4 kept, IPv6 twins skipped, IPv6-only refused, junk refused', () => {
    assert.deepEqual(parsePortMap([b({ HostIP: '0.0.0.0' })]), [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 }]);
    assert.deepEqual(parsePortMap([b({ HostIP: '127.0.0.1' })]), [{ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80 }]);
    assert.deepEqual(parsePortMap([b({ HostIP: '0.0.0.0' }), b({ HostIP: '::' })]), [
      { protocol: 'tcp', hostIp: '', hostPort: 8080, containerPort: 80 },
    ]);
    assert.throws(() => parsePortMap([b({ HostIP: '0.0.0.0' }), b({ HostIP: '::1', HostPort: 9090, HostPortEnd: 9090 })]), /9090 is published on an IPv6 address only/);
    assert.throws(() => parsePortMap([b({ HostIP: 'localhost' })]), /host address "localhost"/);
  });

  test('duplicates collapse to one binding', () => {
    assert.equal(parsePortMap([b({}), b({ HostIP: '0.0.0.0' })]).length, 1);
  });

  test('a non-list is refused', () => {
    assert.throws(() => parsePortMap({ Proto: 6 }), /must be a list/);
    assert.throws(() => parsePortMap('8080:80'), /must be a list/);
  });
});
