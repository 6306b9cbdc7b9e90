import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointMtu, tunnelOverhead } from '../../src/dataplane/mtu';

describe('dataplane/mtu', () => {
  test('tunnel overheads over an IPv4 underlay: GRE flow 42 (keyed), GRE mesh 38, VXLAN 50', () => {
    assert.equal(tunnelOverhead('gre', 'flow'), 42);
    assert.equal(tunnelOverhead('gre', 'mesh'), 38);
    assert.equal(tunnelOverhead('vxlan', 'flow'), 50);
    assert.equal(tunnelOverhead('vxlan', 'mesh'), 50);
  });

  test('an IPv6 underlay adds 20', () => {
    assert.equal(tunnelOverhead('gre', 'flow', true), 62);
    assert.equal(tunnelOverhead('gre', 'mesh', true), 58);
    assert.equal(tunnelOverhead('vxlan', 'flow', true), 70);
    assert.equal(tunnelOverhead('vxlan', 'mesh', false), 50);
  });

  test('endpoint MTU: underlay minus overhead, on one node too', () => {
    assert.equal(endpointMtu({ override: undefined, underlayMtu: 1500, tunnel: 'gre', topology: 'flow' }), 1458);
    assert.equal(endpointMtu({ override: undefined, underlayMtu: 1500, tunnel: 'gre', topology: 'mesh' }), 1462);
    assert.equal(endpointMtu({ override: undefined, underlayMtu: 1500, tunnel: 'vxlan', topology: 'flow' }), 1450);
    assert.equal(endpointMtu({ override: undefined, underlayMtu: 9000, tunnel: 'vxlan', topology: 'mesh' }), 8950);
  });

  test('an override wins, even above the underlay', () => {
    assert.equal(endpointMtu({ override: 1400, underlayMtu: 1500, tunnel: 'gre', topology: 'flow' }), 1400);
    assert.equal(endpointMtu({ override: 9000, underlayMtu: 1500, tunnel: 'vxlan', topology: 'flow' }), 9000);
  });
});
