import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  contains,
  covers,
  formatCidr,
  formatIpv4,
  gatewayOf,
  isIpv4,
  lastAddress,
  macForIpv4,
  overlaps,
  parseAddressWithPrefix,
  parseCidr,
  parseIpv4,
  sameCidr,
  size,
} from '../../src/model/cidr';

describe('model/cidr: IPv4 addresses', () => {
  test('parse and format round trip, including the extremes', () => {
    for (const text of ['0.0.0.0', '10.244.1.1', '192.168.255.254', '255.255.255.255']) {
      assert.equal(formatIpv4(parseIpv4(text)), text);
    }
    assert.equal(parseIpv4('10.244.1.2'), (10 << 24 >>> 0) + (244 << 16) + (1 << 8) + 2);
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff, 'unsigned, never negative');
    assert.ok(parseIpv4('200.0.0.1') > 0);
  });

  test('bad addresses are refused with a message quoting the input', () => {
    for (const text of ['', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '::1', 'fd00::1', '10.0.0.1/8', ' 10.0.0.1', '1..2.3']) {
      assert.throws(() => parseIpv4(text), (err: Error) => err.message.includes(`"${text}"`), `parseIpv4(${JSON.stringify(text)})`);
      assert.equal(isIpv4(text), false);
    }
    assert.equal(isIpv4('10.0.0.1'), true);
  });

  test('an octet above 255 is refused', () => {
    assert.throws(() => parseIpv4('256.1.1.1'));
    assert.throws(() => parseIpv4('10.244.1.300'));
    assert.equal(isIpv4('10.244.1.300'), false);
  });

  test('an out-of-range octet error names the address that was given', () => {
    assert.throws(() => parseIpv4('10.244.1.300'), /10\.244\.1\.300/);
  });
});

describe('model/cidr: prefixes', () => {
  test('parse and format', () => {
    const c = parseCidr('10.244.0.0/16');
    assert.deepEqual(c, { network: parseIpv4('10.244.0.0'), prefix: 16 });
    assert.equal(formatCidr(c), '10.244.0.0/16');
    assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
    assert.equal(formatCidr(parseCidr('10.244.1.7/32')), '10.244.1.7/32');
    assert.equal(formatCidr(parseCidr(' 10.0.0.0/8 ')), '10.0.0.0/8', 'surrounding blanks are tolerated');
  });

  test('non-strict parsing masks host bits; strict refuses them and suggests the network', () => {
    assert.equal(formatCidr(parseCidr('10.244.1.5/24')), '10.244.1.0/24');
    assert.throws(() => parseCidr('10.244.1.5/24', { strict: true }), /host bits set; did you mean 10\.244\.1\.0\/24\?/);
    assert.equal(formatCidr(parseCidr('10.244.1.0/24', { strict: true })), '10.244.1.0/24');
  });

  test('bad prefixes are refused with a useful message', () => {
    assert.throws(() => parseCidr('10.0.0.0/33'), /prefix length must be 0-32/);
    for (const text of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/032', 'fd00::/64', '/16', 'banana', '']) {
      assert.throws(() => parseCidr(text), Error, `parseCidr(${JSON.stringify(text)})`);
    }
    assert.throws(() => parseCidr('banana/16'), /"banana" is not an IPv4 address/);
    assert.throws(() => parseCidr('10.0.0.0'), /not an IPv4 CIDR \(expected a\.b\.c\.d\/len\)/);
  });

  test('parseAddressWithPrefix keeps the host bits', () => {
    assert.deepEqual(parseAddressWithPrefix('10.244.1.1/16'), { address: parseIpv4('10.244.1.1'), prefix: 16 });
    assert.throws(() => parseAddressWithPrefix('10.244.1.1'), /not an address in CIDR form/);
    assert.throws(() => parseAddressWithPrefix('10.244.1.1/40'), /prefix length must be 0-32/);
  });

  test('size, lastAddress, gatewayOf', () => {
    const n = parseCidr('10.244.1.0/24');
    assert.equal(size(n), 256);
    assert.equal(formatIpv4(lastAddress(n)), '10.244.1.255');
    assert.equal(formatIpv4(gatewayOf(n)), '10.244.1.1');
    assert.equal(size(parseCidr('0.0.0.0/0')), 2 ** 32);
    assert.equal(formatIpv4(lastAddress(parseCidr('0.0.0.0/0'))), '255.255.255.255');
    assert.equal(formatIpv4(lastAddress(parseCidr('10.244.1.16/28'))), '10.244.1.31');
  });

  test('contains', () => {
    const n = parseCidr('10.244.1.0/24');
    assert.equal(contains(n, parseIpv4('10.244.1.0')), true);
    assert.equal(contains(n, parseIpv4('10.244.1.255')), true);
    assert.equal(contains(n, parseIpv4('10.244.2.0')), false);
    assert.equal(contains(n, parseIpv4('10.244.0.255')), false);
    assert.equal(contains(parseCidr('0.0.0.0/0'), parseIpv4('203.0.113.9')), true);
    assert.equal(contains(parseCidr('128.0.0.0/1'), parseIpv4('200.0.0.1')), true, 'high addresses stay unsigned');
    assert.equal(contains(parseCidr('128.0.0.0/1'), parseIpv4('127.0.0.1')), false);
  });

  test('covers, overlaps, sameCidr', () => {
    const cluster = parseCidr('10.244.0.0/16');
    const node = parseCidr('10.244.1.0/24');
    assert.equal(covers(cluster, node), true);
    assert.equal(covers(node, cluster), false, 'a larger prefix is not covered by a smaller one');
    assert.equal(covers(cluster, cluster), true);
    assert.equal(covers(cluster, parseCidr('10.245.1.0/24')), false);
    assert.equal(covers(cluster, parseCidr('10.0.0.0/8')), false);
    assert.equal(overlaps(node, cluster), true);
    assert.equal(overlaps(cluster, node), true);
    assert.equal(overlaps(node, parseCidr('10.244.2.0/24')), false);
    assert.equal(sameCidr(cluster, parseCidr('10.244.0.0/16')), true);
    assert.equal(sameCidr(cluster, parseCidr('10.244.0.0/17')), false);
  });
});

describe('model/cidr: macForIpv4', () => {
  test('02:42 followed by the four address bytes, lower-case, zero-padded', () => {
    assert.equal(macForIpv4(parseIpv4('10.244.1.2')), '02:42:0a:f4:01:02');
    assert.equal(macForIpv4(parseIpv4('172.17.0.2')), '02:42:ac:11:00:02');
    assert.equal(macForIpv4(parseIpv4('255.255.255.255')), '02:42:ff:ff:ff:ff');
    assert.equal(macForIpv4(parseIpv4('0.0.0.0')), '02:42:00:00:00:00');
  });

  test('locally administered unicast, and distinct per address', () => {
    const mac = macForIpv4(parseIpv4('10.244.1.9'));
    assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0x02, 0x02, 'locally administered bit');
    assert.equal(first & 0x01, 0, 'not multicast');
    assert.notEqual(macForIpv4(parseIpv4('10.244.1.9')), macForIpv4(parseIpv4('10.244.1.10')));
  });
});
