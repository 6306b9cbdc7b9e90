/**
 * Deeply nested request bodies: refused as invalid requests before parsing, never a stack
 * overflow reported as an unexpected error.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { ERROR_CODE_HEADER, MAX_JSON_DEPTH, jsonDepthExceeds } from '../../src/api/server';
import { hexId, makeWorld, type World } from './helpers';

const NET = hexId(1);

async function world(t: TestContext): Promise<World> {
  const w = await makeWorld();
  t.after(() => w.close());
  return w;
}

/** {"a":{"a":...{}...}} nested `depth` objects deep. */
function nestedObject(depth: number): string {
  return '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
}

function createNetworkWithOptions(optionsJson: string): string {
  return `{"NetworkID":"${NET}","Options":${optionsJson},"IPv4Data":[{"AddressSpace":"podnet-local","Pool":"0.0.0.0/0","Gateway":"10.244.1.1/16"}],"IPv6Data":[]}`;
}

describe('request body depth', () => {
  test('Options nested 100000 deep: PODNET_ERR_INVALID_REQUEST, not an unexpected error', async (t) => {
    const w = await world(t);
    const logged = t.mock.method(console, 'error', () => undefined);
    const body = createNetworkWithOptions(nestedObject(100_000));
    const res = await request(w.server).post('/NetworkDriver.CreateNetwork').set('Content-Type', 'application/json').send(body);
    assert.ok(res.status >= 400 && res.status <= 500, `an error status, got ${res.status}: ${res.text.slice(0, 200)}`);
    assert.equal(res.headers[ERROR_CODE_HEADER.toLowerCase()], 'PODNET_ERR_INVALID_REQUEST', res.text.slice(0, 300));
    assert.match(String(res.body.Err), new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`));
    assert.equal(res.body.Err, res.body.Error);
    assert.equal(logged.mock.callCount(), 0, 'nothing logged as unexpected');
    assert.deepEqual(w.store.listNetworks(), [], 'nothing created');
  });

  test('deep arrays and deep Join options are refused the same way', async (t) => {
    const w = await world(t);
    t.mock.method(console, 'error', () => undefined);
    const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const [path, body] of [
      ['/IpamDriver.RequestPool', `{"AddressSpace":"podnet-local","Pool":"","Options":{"x":${deepArray}}}`],
      ['/NetworkDriver.Join', `{"NetworkID":"${NET}","EndpointID":"${hexId(2)}","SandboxKey":"","Options":${nestedObject(100_000)}}`],
    ] as const) {
      const res = await request(w.server).post(path).send(body);
      assert.equal(res.headers[ERROR_CODE_HEADER.toLowerCase()], 'PODNET_ERR_INVALID_REQUEST', `${path}: ${res.text.slice(0, 300)}`);
    }
  });

  test('nesting up to the limit still works; brackets inside strings do not count', async (t) => {
    const w = await world(t);
    // Options at depth 2 of the body: MAX_JSON_DEPTH - 1 more levels inside it is exactly the limit.
    const body = createNetworkWithOptions(nestedObject(MAX_JSON_DEPTH - 1).replace('{}', `{"s":"${'{['.repeat(1000)}\\"{"}`));
    const pool = await request(w.server).post('/IpamDriver.RequestPool').send({ AddressSpace: 'podnet-local', Pool: '', Options: {} });
    assert.equal(pool.status, 200, pool.text);
    const res = await request(w.server).post('/NetworkDriver.CreateNetwork').send(body);
    assert.notEqual(res.headers[ERROR_CODE_HEADER.toLowerCase()], 'PODNET_ERR_INVALID_REQUEST', res.text.slice(0, 300));
  });

  test('jsonDepthExceeds counts {} and [] outside strings only', () => {
    const b = (s: string): Buffer => Buffer.from(s);
    assert.equal(jsonDepthExceeds(b('{"a":[1,{"b":[]}]}'), 4), false);
    assert.equal(jsonDepthExceeds(b('{"a":[1,{"b":[]}]}'), 3), true);
    assert.equal(jsonDepthExceeds(b('"[[[[[[[[[["'), 1), false);
    assert.equal(jsonDepthExceeds(b('["\\"[[[[", {}]'), 2), false);
    assert.equal(jsonDepthExceeds(b('["é{[", [[]]]'), 2), true);
    assert.equal(jsonDepthExceeds(b(''), 0), false);
  });
});
