import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHAINS,
  JUMPS,
  MASQ_MARK,
  buildRemovalPayload,
  buildRestorePayload,
  parseSave,
  type FirewallState,
  type Jump,
} from '../../src/dataplane/firewall-rules';
import { parseCidr, parseIpv4 } from '../../src/model/cidr';

function state(over: Partial<FirewallState> = {}): FirewallState {
  return {
    bridge: 'kbr0',
    clusterCidr: parseCidr('10.244.0.0/16'),
    internal: false,
    hostPorts: [],
    ...over,
  };
}

const FILTER_NORMAL = [
  '*filter',
  ':PODNET-FORWARD - [0:0]',
  ':PODNET-INPUT - [0:0]',
  '-A PODNET-FORWARD -i kbr0 -o kbr0 -j ACCEPT',
  '-A PODNET-FORWARD -o kbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A PODNET-FORWARD -o kbr0 -m conntrack --ctstate DNAT -j ACCEPT',
  '-A PODNET-FORWARD -i kbr0 -j ACCEPT',
  '-A PODNET-INPUT -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
  'COMMIT',
];

describe('dataplane/firewall-rules: buildRestorePayload', () => {
  test('constants', () => {
    assert.deepEqual(CHAINS, { forward: 'PODNET-FORWARD', input: 'PODNET-INPUT', postrouting: 'PODNET-POSTROUTING', hostports: 'PODNET-HOSTPORTS' });
    assert.equal(MASQ_MARK, '0x1000/0x1000');
    assert.deepEqual(
      JUMPS.map((j) => `${j.table} ${j.chain} ${j.rule}`),
      [
        'filter FORWARD -j PODNET-FORWARD',
        'filter INPUT -j PODNET-INPUT',
        'nat PREROUTING -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS',
        'nat OUTPUT -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS',
        'nat POSTROUTING -j PODNET-POSTROUTING',
      ],
    );
  });

  test('a normal network without host ports, jumps in place', () => {
    assert.equal(
      buildRestorePayload(state(), []),
      [
        ...FILTER_NORMAL,
        '*nat',
        ':PODNET-POSTROUTING - [0:0]',
        ':PODNET-HOSTPORTS - [0:0]',
        '-A PODNET-POSTROUTING -m mark --mark 0x1000/0x1000 -j MASQUERADE',
        '-A PODNET-POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE',
        'COMMIT',
      ].join('\n') + '\n',
    );
  });

  test('host ports: MARK from 127.0.0.0/8 and from cluster pods, then DNAT to pod:port; HostIP as -d x/32', () => {
    const payload = buildRestorePayload(
      state({
        bridge: 'br-pods',
        hostPorts: [
          { protocol: 'tcp', hostIp: '', hostPort: 8080, podIp: parseIpv4('10.244.1.2'), containerPort: 80 },
          { protocol: 'udp', hostIp: '192.0.2.11', hostPort: 5353, podIp: parseIpv4('10.244.1.3'), containerPort: 53 },
        ],
      }),
      [],
    );
    const nat = payload.slice(payload.indexOf('*nat')).split('\n');
    assert.deepEqual(nat, [
      '*nat',
      ':PODNET-POSTROUTING - [0:0]',
      ':PODNET-HOSTPORTS - [0:0]',
      '-A PODNET-POSTROUTING -m mark --mark 0x1000/0x1000 -j MASQUERADE',
      '-A PODNET-POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE',
      '-A PODNET-HOSTPORTS -p tcp -m tcp --dport 8080 -s 127.0.0.0/8 -j MARK --set-xmark 0x1000/0x1000',
      '-A PODNET-HOSTPORTS -p tcp -m tcp --dport 8080 -s 10.244.0.0/16 -j MARK --set-xmark 0x1000/0x1000',
      '-A PODNET-HOSTPORTS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.1.2:80',
      '-A PODNET-HOSTPORTS -p udp -m udp --dport 5353 -d 192.0.2.11/32 -s 127.0.0.0/8 -j MARK --set-xmark 0x1000/0x1000',
      '-A PODNET-HOSTPORTS -p udp -m udp --dport 5353 -d 192.0.2.11/32 -s 10.244.0.0/16 -j MARK --set-xmark 0x1000/0x1000',
      '-A PODNET-HOSTPORTS -p udp -m udp --dport 5353 -d 192.0.2.11/32 -j DNAT --to-destination 10.244.1.3:53',
      'COMMIT',
      '',
    ]);
    assert.ok(payload.includes('-A PODNET-FORWARD -i br-pods -o br-pods -j ACCEPT'), 'the bridge name comes from the state');
  });

  test('internal: no masquerade of the cluster, no DNAT, pod traffic in and out of the bridge dropped', () => {
    const payload = buildRestorePayload(
      state({ internal: true, hostPorts: [{ protocol: 'tcp', hostIp: '', hostPort: 8080, podIp: parseIpv4('10.244.1.2'), containerPort: 80 }] }),
      [],
    );
    assert.equal(
      payload,
      [
        '*filter',
        ':PODNET-FORWARD - [0:0]',
        ':PODNET-INPUT - [0:0]',
        '-A PODNET-FORWARD -i kbr0 -o kbr0 -j ACCEPT',
        '-A PODNET-FORWARD -o kbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A PODNET-FORWARD -i kbr0 -j DROP',
        '-A PODNET-FORWARD -o kbr0 -j DROP',
        '-A PODNET-INPUT -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        'COMMIT',
        '*nat',
        ':PODNET-POSTROUTING - [0:0]',
        ':PODNET-HOSTPORTS - [0:0]',
        '-A PODNET-POSTROUTING -m mark --mark 0x1000/0x1000 -j MASQUERADE',
        'COMMIT',
      ].join('\n') + '\n',
    );
    assert.ok(!payload.includes('-s 10.244.0.0/16 ! -d 10.244.0.0/16'));
    assert.ok(!payload.includes('DNAT --to-destination'));
  });

  test('missing jumps are inserted first (-I CHAIN 1) in their own table, after the chain declarations', () => {
    const payload = buildRestorePayload(state(), JUMPS);
    const lines = payload.trimEnd().split('\n');
    const filterEnd = lines.indexOf('COMMIT');
    const filter = lines.slice(0, filterEnd + 1);
    const nat = lines.slice(filterEnd + 1);
    assert.deepEqual(filter.slice(-3), ['-I FORWARD 1 -j PODNET-FORWARD', '-I INPUT 1 -j PODNET-INPUT', 'COMMIT']);
    assert.deepEqual(nat.slice(-4), [
      '-I PREROUTING 1 -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS',
      '-I OUTPUT 1 -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS',
      '-I POSTROUTING 1 -j PODNET-POSTROUTING',
      'COMMIT',
    ]);
    // Only the missing ones.
    const onlyOutput = buildRestorePayload(state(), JUMPS.filter((j) => j.chain === 'OUTPUT'));
    assert.deepEqual(onlyOutput.split('\n').filter((l) => l.startsWith('-I ')), ['-I OUTPUT 1 -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS']);
  });

  test('never touches a chain that is not podnet\'s (only declarations and -A of PODNET-*, -I of the built-ins)', () => {
    const payload = buildRestorePayload(
      state({ hostPorts: [{ protocol: 'sctp', hostIp: '', hostPort: 9, podIp: parseIpv4('10.244.1.9'), containerPort: 9 }] }),
      JUMPS,
    );
    for (const line of payload.trimEnd().split('\n')) {
      assert.ok(
        /^(\*filter|\*nat|COMMIT|:PODNET-[A-Z]+ - \[0:0\]|-A PODNET-[A-Z]+ .*|-I (FORWARD|INPUT|PREROUTING|OUTPUT|POSTROUTING) 1 .*-j PODNET-[A-Z]+)$/.test(line),
        line,
      );
    }
    assert.ok(!/DOCKER/.test(payload));
  });
});

/** A realistic iptables-save (iptables-nft, Debian 12) of a Docker host running podnet: one jump duplicated. */
const SAVE = `# Generated by iptables-nft-save v1.8.9 (nf_tables) on Tue Nov 26 05:57:00 2024
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:PODNET-FORWARD - [0:0]
:PODNET-INPUT - [0:0]
-A INPUT -j PODNET-INPUT
-A FORWARD -j PODNET-FORWARD
-A FORWARD -j PODNET-FORWARD
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
-A PODNET-FORWARD -i kbr0 -o kbr0 -j ACCEPT
-A PODNET-FORWARD -o kbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A PODNET-FORWARD -o kbr0 -m conntrack --ctstate DNAT -j ACCEPT
-A PODNET-FORWARD -i kbr0 -j ACCEPT
-A PODNET-INPUT -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
COMMIT
# Completed on Tue Nov 26 05:57:00 2024
# Generated by iptables-nft-save v1.8.9 (nf_tables) on Tue Nov 26 05:57:00 2024
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:PODNET-HOSTPORTS - [0:0]
:PODNET-POSTROUTING - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -j PODNET-POSTROUTING
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A PODNET-HOSTPORTS -s 127.0.0.0/8 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x1000/0x1000
-A PODNET-HOSTPORTS -s 10.244.0.0/16 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x1000/0x1000
-A PODNET-HOSTPORTS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.1.2:80
-A PODNET-POSTROUTING -m mark --mark 0x1000/0x1000 -j MASQUERADE
-A PODNET-POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE
COMMIT
# Completed on Tue Nov 26 05:57:00 2024
`;

const jump = (chain: string): Jump => {
  const j = JUMPS.find((x) => x.chain === chain);
  assert.ok(j, chain);
  return j;
};

describe('dataplane/firewall-rules: parseSave and buildRemovalPayload', () => {
  test('parseSave finds podnet\'s chains and counts each jump where it belongs', () => {
    const p = parseSave(SAVE);
    assert.deepEqual([...p.chains].sort(), ['PODNET-FORWARD', 'PODNET-HOSTPORTS', 'PODNET-INPUT', 'PODNET-POSTROUTING']);
    assert.equal(p.jumpCounts.get(jump('FORWARD')), 2, 'duplicated jump counted twice');
    assert.equal(p.jumpCounts.get(jump('INPUT')), 1);
    assert.equal(p.jumpCounts.get(jump('PREROUTING')), 1);
    assert.equal(p.jumpCounts.get(jump('OUTPUT')), 0, 'Docker\'s OUTPUT jump is not podnet\'s');
    assert.equal(p.jumpCounts.get(jump('POSTROUTING')), 1);
  });

  test('a jump line in the wrong table is not counted', () => {
    const p = parseSave('*nat\n-A FORWARD -j PODNET-FORWARD\nCOMMIT\n*filter\n-A POSTROUTING -j PODNET-POSTROUTING\nCOMMIT\n');
    assert.equal(p.jumpCounts.get(jump('FORWARD')), 0);
    assert.equal(p.jumpCounts.get(jump('POSTROUTING')), 0);
  });

  test('the removal payload deletes every podnet jump (duplicates too), then flushes and deletes its chains; Docker\'s are untouched', () => {
    const payload = buildRemovalPayload(parseSave(SAVE));
    assert.equal(
      payload,
      [
        '*filter',
        '-D FORWARD -j PODNET-FORWARD',
        '-D FORWARD -j PODNET-FORWARD',
        '-D INPUT -j PODNET-INPUT',
        '-F PODNET-FORWARD',
        '-F PODNET-INPUT',
        '-X PODNET-FORWARD',
        '-X PODNET-INPUT',
        'COMMIT',
        '*nat',
        '-D PREROUTING -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS',
        '-D POSTROUTING -j PODNET-POSTROUTING',
        '-F PODNET-POSTROUTING',
        '-F PODNET-HOSTPORTS',
        '-X PODNET-POSTROUTING',
        '-X PODNET-HOSTPORTS',
        'COMMIT',
      ].join('\n') + '\n',
    );
    assert.ok(!/DOCKER/.test(payload), 'no line names a Docker chain');
  });

  test('the jumps found missing in a save are the ones the restore payload inserts', () => {
    const p = parseSave(SAVE);
    const missing = JUMPS.filter((j) => (p.jumpCounts.get(j) ?? 0) === 0);
    const inserts = buildRestorePayload(state(), missing).split('\n').filter((l) => l.startsWith('-I '));
    assert.deepEqual(inserts, ['-I OUTPUT 1 -m addrtype --dst-type LOCAL -j PODNET-HOSTPORTS']);
  });

  test('round trip: after applying the restore payload with every jump to an empty host, the removal payload removes exactly that', () => {
    // Simulate the host after restore: the chains declared, each jump once.
    const applied = buildRestorePayload(state(), JUMPS)
      .split('\n')
      .map((l) => {
        const m = /^-I (\S+) 1 (.*)$/.exec(l);
        return m ? `-A ${m[1]} ${m[2]}` : l;
      })
      .join('\n');
    const p = parseSave(applied);
    assert.equal(p.chains.size, 4);
    for (const j of JUMPS) assert.equal(p.jumpCounts.get(j), 1, `${j.table}/${j.chain}`);
    const removal = buildRemovalPayload(p);
    assert.equal(removal.split('\n').filter((l) => l.startsWith('-D ')).length, JUMPS.length);
    assert.equal(removal.split('\n').filter((l) => l.startsWith('-X ')).length, 4);
    // After removal nothing of podnet is left.
    assert.equal(buildRemovalPayload(parseSave('*filter\n:INPUT ACCEPT [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n')), '');
  });

  test('a save with only some chains removes only those', () => {
    const p = parseSave('*filter\n:PODNET-FORWARD - [0:0]\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n');
    assert.equal(buildRemovalPayload(p), '*filter\n-F PODNET-FORWARD\n-X PODNET-FORWARD\nCOMMIT\n');
  });
});
