/**
 * Pod manifests (src/pods/manifest.ts): the Kubernetes Pod subset podnet honours, read from YAML
 * or JSON; every refusal, whose message must name the bad field by its dotted path; the ignored
 * fields; and the quick form of `podnet pod run`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestError, isDns1123Label, parseManifest, podFromRun } from '../../src/pods/manifest';
import { PodnetError } from '../../src/errors';

const MULTI = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels:
    app: web
    tier: "1"
spec:
  restartPolicy: OnFailure
  shareProcessNamespace: true
  containers:
    - name: nginx
      image: nginx:1.27
      ports:
        - containerPort: 80
          hostPort: 8080
        - containerPort: 9000
          hostPort: 9000
          hostIP: 127.0.0.1
          protocol: UDP
      env:
        - name: LOG_LEVEL
          value: debug
        - name: EMPTY
      workingDir: /srv
    - name: sidecar
      image: busybox
      command: ["sh", "-c"]
      args:
        - sleep 3600
`;

/** A minimal valid pod (as a JS object) with `spec` fields merged over the default container list. */
function pod(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = { name: 'p' }): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'c', image: 'img' }], ...spec } };
}

/** A pod with these containers. */
function withContainers(...containers: unknown[]): string {
  return JSON.stringify(pod({ containers }));
}

/** A pod whose only container has these ports. */
function withPorts(...ports: unknown[]): string {
  return withContainers({ name: 'c', image: 'img', ports });
}

/** Asserts that `fn` throws a one-line ManifestError with code PODNET_ERR_INVALID_OPTION, the given path, and every needle in its message. */
function refusedBy(fn: () => unknown, path: string | undefined, ...needles: (string | RegExp)[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${String(err)}`);
    assert.ok(err instanceof PodnetError);
    assert.equal(err.code, 'PODNET_ERR_INVALID_OPTION');
    assert.equal(err.name, 'ManifestError');
    if (path !== undefined) {
      assert.equal(err.path, path);
      if (path !== '') assert.ok(err.message.includes(path), `message should name ${path}: ${err.message}`);
    }
    for (const n of needles) {
      if (typeof n === 'string') assert.ok(err.message.includes(n), `message should contain ${JSON.stringify(n)}: ${err.message}`);
      else assert.match(err.message, n);
    }
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return true;
  });
}

function refuses(text: string, path: string, ...needles: (string | RegExp)[]): void {
  refusedBy(() => parseManifest(text), path, ...needles);
}

describe('parseManifest: valid pods', () => {
  test('a YAML multi-container pod with ports, env, command, args, labels and workingDir', () => {
    const { pod: p, ignored } = parseManifest(MULTI, 'web.yaml');
    assert.deepEqual(ignored, []);
    assert.deepEqual(p, {
      name: 'web',
      namespace: 'shop',
      labels: { app: 'web', tier: '1' },
      hostNetwork: false,
      restartPolicy: 'OnFailure',
      shareProcessNamespace: true,
      containers: [
        {
          name: 'nginx',
          image: 'nginx:1.27',
          command: undefined,
          args: undefined,
          env: [
            { name: 'LOG_LEVEL', value: 'debug' },
            { name: 'EMPTY', value: '' },
          ],
          ports: [
            { containerPort: 80, hostPort: 8080, hostIP: '', protocol: 'TCP' },
            { containerPort: 9000, hostPort: 9000, hostIP: '127.0.0.1', protocol: 'UDP' },
          ],
          workingDir: '/srv',
        },
        {
          name: 'sidecar',
          image: 'busybox',
          command: ['sh', '-c'],
          args: ['sleep 3600'],
          env: [],
          ports: [],
          workingDir: undefined,
        },
      ],
    });
  });

  test('JSON is accepted (JSON is YAML)', () => {
    const text = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'api' },
      spec: { hostNetwork: true, restartPolicy: 'Never', containers: [{ name: 'api', image: 'api:2', ports: [{ containerPort: 8080, hostPort: 8080 }] }] },
    });
    const { pod: p, ignored } = parseManifest(text);
    assert.deepEqual(ignored, []);
    assert.equal(p.name, 'api');
    assert.equal(p.hostNetwork, true);
    assert.equal(p.restartPolicy, 'Never');
    assert.deepEqual(p.containers[0]?.ports, [{ containerPort: 8080, hostPort: 8080, hostIP: '', protocol: 'TCP' }]);
  });

  test('defaults: namespace, labels, hostNetwork, restartPolicy, shareProcessNamespace, protocol, hostPort; apiVersion and kind may be absent', () => {
    const { pod: p, ignored } = parseManifest('metadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: img, ports: [{containerPort: 53}]}\n');
    assert.deepEqual(ignored, []);
    assert.deepEqual(p, {
      name: 'p',
      namespace: 'default',
      labels: {},
      hostNetwork: false,
      restartPolicy: 'Always',
      shareProcessNamespace: false,
      containers: [
        {
          name: 'c',
          image: 'img',
          command: undefined,
          args: undefined,
          env: [],
          ports: [{ containerPort: 53, hostPort: undefined, hostIP: '', protocol: 'TCP' }],
          workingDir: undefined,
        },
      ],
    });
  });

  test('null optional fields count as absent', () => {
    const { pod: p } = parseManifest(
      'metadata:\n  name: p\n  namespace:\n  labels:\nspec:\n  hostNetwork:\n  restartPolicy:\n  containers:\n  - name: c\n    image: img\n    env:\n    ports:\n    command:\n',
    );
    assert.equal(p.namespace, 'default');
    assert.equal(p.restartPolicy, 'Always');
    assert.deepEqual(p.containers[0]?.env, []);
    assert.equal(p.containers[0]?.command, undefined);
  });

  test('the same containerPort with different protocols, and the same hostPort on different addresses or protocols, are fine', () => {
    const { pod: p } = parseManifest(
      withPorts(
        { containerPort: 53, hostPort: 53, hostIP: '127.0.0.1' },
        { containerPort: 53, hostPort: 53, hostIP: '127.0.0.1', protocol: 'UDP' },
        { containerPort: 54, hostPort: 53, hostIP: '192.0.2.1' },
      ),
    );
    assert.equal(p.containers[0]?.ports.length, 3);
  });

  test('hostIP 0.0.0.0 means every address', () => {
    const { pod: p } = parseManifest(withPorts({ containerPort: 80, hostPort: 80, hostIP: '0.0.0.0' }));
    assert.equal(p.containers[0]?.ports[0]?.hostIP, '');
  });

  test('a 63-character name is a label; 64 is not', () => {
    assert.ok(isDns1123Label('a'.repeat(63)));
    assert.ok(!isDns1123Label('a'.repeat(64)));
    assert.ok(isDns1123Label('a-0'));
    assert.ok(!isDns1123Label('-a'));
    assert.ok(!isDns1123Label('a-'));
    assert.ok(!isDns1123Label('A'));
    assert.ok(!isDns1123Label('a_b'));
    assert.ok(!isDns1123Label('a.b'));
    assert.ok(!isDns1123Label(''));
  });
});

describe('parseManifest: ignored fields', () => {
  test('fields podnet does not honour are listed as dotted paths, in document order, not refused', () => {
    const text = `
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {a: b}
  creationTimestamp: null
spec:
  volumes: [{name: data, emptyDir: {}}]
  dnsPolicy: ClusterFirst
  initContainers: []
  containers:
  - name: c
    image: img
    resources: {limits: {cpu: "1"}}
    ports:
    - {name: http, containerPort: 80}
    - {containerPort: 81, hostIP: 127.0.0.1}
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
  - name: d
    image: img
    volumeMounts: [{name: data, mountPath: /data}]
status: {}
`;
    const { pod: p, ignored } = parseManifest(text);
    assert.deepEqual(ignored, [
      'status',
      'metadata.annotations',
      'metadata.creationTimestamp',
      'spec.volumes',
      'spec.dnsPolicy',
      'spec.initContainers',
      'spec.containers[0].resources',
      'spec.containers[0].env[0].valueFrom',
      'spec.containers[0].ports[0].name',
      'spec.containers[0].ports[1].hostIP',
      'spec.containers[1].volumeMounts',
    ]);
    assert.deepEqual(p.containers[0]?.env, [{ name: 'POD_IP', value: '' }]);
    assert.deepEqual(p.containers[0]?.ports[1], { containerPort: 81, hostPort: undefined, hostIP: '', protocol: 'TCP' });
  });
});

describe('parseManifest: refusals name the path', () => {
  test('syntax errors, empty text, a non-map', () => {
    refusedBy(() => parseManifest('metadata: [1\n', 'pod.yaml'), '', 'pod.yaml:', 'not valid YAML or JSON', /line \d+/);
    refusedBy(() => parseManifest('{"metadata": ', 'pod.json'), '', 'pod.json:', 'not valid YAML or JSON');
    refusedBy(() => parseManifest('a: 1\na: 2\n'), '', 'not valid YAML or JSON', 'unique');
    refusedBy(() => parseManifest('metadata: {name: a}\n---\nmetadata: {name: b}\n'), '', 'multiple documents');
    refuses('', '', 'is empty');
    refuses('# nothing\n', '', 'is empty');
    refuses('[1, 2]', '', 'must be a Pod', 'a list');
    refuses('"pod"', '', 'must be a Pod');
  });

  test('the source prefixes every message', () => {
    refusedBy(() => parseManifest(JSON.stringify(pod({}, {})), 'deploy/web.yaml'), 'metadata.name', /^deploy\/web\.yaml: metadata\.name: /);
    refusedBy(() => parseManifest(JSON.stringify(pod({}, {}))), 'metadata.name', /^manifest: metadata\.name: /);
  });

  test('apiVersion other than v1, kind other than Pod', () => {
    refuses(JSON.stringify({ ...pod(), apiVersion: 'apps/v1' }), 'apiVersion', 'must be v1', '"apps/v1"');
    refuses(JSON.stringify({ ...pod(), kind: 'Deployment' }), 'kind', 'must be Pod', '"Deployment"');
  });

  test('no metadata, no name, a bad pod name, a bad namespace', () => {
    refuses(JSON.stringify({ spec: pod()['spec'] }), 'metadata', 'is required');
    refuses(JSON.stringify(pod({}, {})), 'metadata.name', 'is required');
    refuses(JSON.stringify(pod({}, { name: '' })), 'metadata.name', 'is required');
    refuses(JSON.stringify(pod({}, { generateName: 'web-' })), 'metadata.name', 'is required');
    refuses(JSON.stringify(pod({}, { name: 'My_Pod' })), 'metadata.name', 'DNS-1123 label', '"my-pod"');
    refuses(JSON.stringify(pod({}, { name: 'a'.repeat(64) })), 'metadata.name', 'DNS-1123 label');
    refuses(JSON.stringify(pod({}, { name: 'web.shop' })), 'metadata.name', 'DNS-1123 label');
    refuses(JSON.stringify(pod({}, { name: 7 })), 'metadata.name', 'must be a string', '7');
    refuses(JSON.stringify(pod({}, { name: 'p', namespace: 'Kube_System' })), 'metadata.namespace', 'DNS-1123 label');
    refuses(JSON.stringify(pod({}, { name: 'p', labels: ['a'] })), 'metadata.labels', 'must be a map');
    refuses('metadata:\n  name: p\n  labels:\n    version: 2\nspec:\n  containers: [{name: c, image: i}]\n', 'metadata.labels.version', 'must be a string', 'quote it');
  });

  test('no spec, no containers, an empty container list, containers not a list', () => {
    refuses(JSON.stringify({ metadata: { name: 'p' } }), 'spec', 'is required');
    refuses(JSON.stringify(pod({ containers: undefined })), 'spec.containers', 'at least one container');
    refuses(JSON.stringify(pod({ containers: [] })), 'spec.containers', 'at least one container');
    refuses(JSON.stringify(pod({ containers: { name: 'c', image: 'i' } })), 'spec.containers', 'must be a list');
    refuses(withContainers('nginx'), 'spec.containers[0]', 'must be a map');
  });

  test('initContainers: not supported, remove it', () => {
    refuses(JSON.stringify(pod({ initContainers: [{ name: 'init', image: 'busybox' }] })), 'spec.initContainers', 'not supported: remove it');
  });

  test('container name: required, a DNS-1123 label, unique', () => {
    refuses(withContainers({ image: 'img' }), 'spec.containers[0].name', 'is required');
    refuses(withContainers({ name: 'ok', image: 'img' }, { name: 'Side_Car', image: 'img' }), 'spec.containers[1].name', 'DNS-1123 label', '"side-car"');
    refuses(
      withContainers({ name: 'web', image: 'a' }, { name: 'db', image: 'b' }, { name: 'web', image: 'c' }),
      'spec.containers[2].name',
      '"web" is already the name of spec.containers[0]',
      'unique',
    );
  });

  test('image: required non-empty string', () => {
    refuses(withContainers({ name: 'c' }), 'spec.containers[0].image', 'is required');
    refuses(withContainers({ name: 'c', image: '' }), 'spec.containers[0].image', 'is required');
    refuses(withContainers({ name: 'c', image: 3 }), 'spec.containers[0].image', 'must be a string');
    refuses(withContainers({ name: 'c', image: 'nginx latest' }), 'spec.containers[0].image', 'whitespace');
  });

  test('command, args, env, workingDir: wrong types', () => {
    refuses(withContainers({ name: 'c', image: 'i', command: 'sleep 1' }), 'spec.containers[0].command', 'must be a list of strings');
    refuses('metadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    args: [sleep, 3600]\n', 'spec.containers[0].args[1]', 'must be a string', '3600', 'quote it');
    refuses(withContainers({ name: 'c', image: 'i', env: { A: 'b' } }), 'spec.containers[0].env', 'must be a list');
    refuses(withContainers({ name: 'c', image: 'i', env: [{ value: 'x' }] }), 'spec.containers[0].env[0].name', 'non-empty string');
    refuses(withContainers({ name: 'c', image: 'i', env: [{ name: 'A=B' }] }), 'spec.containers[0].env[0].name', "'='");
    refuses('metadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    env:\n    - name: PORT\n      value: 8080\n', 'spec.containers[0].env[0].value', 'must be a string', 'value: "8080"');
    refuses(withContainers({ name: 'c', image: 'i', workingDir: 'srv' }), 'spec.containers[0].workingDir', 'absolute path');
    refuses(withContainers({ name: 'c', image: 'i', workingDir: 1 }), 'spec.containers[0].workingDir', 'must be a string');
  });

  test('spec booleans and restartPolicy: wrong values', () => {
    refuses(JSON.stringify(pod({ hostNetwork: 'true' })), 'spec.hostNetwork', 'true or false', 'the string "true"');
    refuses('metadata: {name: p}\nspec:\n  shareProcessNamespace: yes\n  containers: [{name: c, image: i}]\n', 'spec.shareProcessNamespace', 'true or false');
    refuses(JSON.stringify(pod({ restartPolicy: 'always' })), 'spec.restartPolicy', 'Always, OnFailure, Never', '"always"');
  });

  test('ports: containerPort required, an integer 1-65535, a number not a string', () => {
    refuses(withPorts({ hostPort: 80 }), 'spec.containers[0].ports[0].containerPort', 'is required');
    refuses(withPorts({ containerPort: '80' }), 'spec.containers[0].ports[0].containerPort', 'must be a number', 'the string "80"', 'without quotes');
    refuses(withPorts({ containerPort: 'http' }), 'spec.containers[0].ports[0].containerPort', 'integer from 1 to 65535');
    refuses(withPorts({ containerPort: 0 }), 'spec.containers[0].ports[0].containerPort', '1 to 65535', '0');
    refuses(withPorts({ containerPort: 80.5 }), 'spec.containers[0].ports[0].containerPort', 'integer');
    refuses(withPorts({ containerPort: 70000 }), 'spec.containers[0].ports[0].containerPort', '1 to 65535', '70000');
    refuses(withPorts(80), 'spec.containers[0].ports[0]', 'must be a map');
    refuses(withContainers({ name: 'c', image: 'i', ports: 80 }), 'spec.containers[0].ports', 'must be a list');
  });

  test('ports: hostPort outside 1-65535, or a string', () => {
    refuses(
      withContainers({ name: 'a', image: 'i' }, { name: 'b', image: 'i', ports: [{ containerPort: 1 }, { containerPort: 80, hostPort: 65536 }] }),
      'spec.containers[1].ports[1].hostPort',
      '1 to 65535',
      '65536',
    );
    refuses(withPorts({ containerPort: 80, hostPort: 0 }), 'spec.containers[0].ports[0].hostPort', '1 to 65535');
    refuses(withPorts({ containerPort: 80, hostPort: -1 }), 'spec.containers[0].ports[0].hostPort', '1 to 65535');
    refuses(withPorts({ containerPort: 80, hostPort: '8080' }), 'spec.containers[0].ports[0].hostPort', 'without quotes');
  });

  test('ports: hostIP must be IPv4; protocol TCP or UDP, SCTP refused', () => {
    refuses(withPorts({ containerPort: 80, hostPort: 80, hostIP: '::1' }), 'spec.containers[0].ports[0].hostIP', 'not an IPv4 address');
    refuses(withPorts({ containerPort: 80, hostPort: 80, hostIP: '300.1.1.1' }), 'spec.containers[0].ports[0].hostIP', 'not an IPv4 address');
    refuses(withPorts({ containerPort: 80, hostPort: 80, hostIP: 1 }), 'spec.containers[0].ports[0].hostIP', 'must be a string');
    refuses(withPorts({ containerPort: 80, protocol: 'SCTP' }), 'spec.containers[0].ports[0].protocol', 'SCTP is not supported', 'TCP or UDP');
    refuses(withPorts({ containerPort: 80, protocol: 'tcp' }), 'spec.containers[0].ports[0].protocol', 'must be TCP or UDP', '"tcp"');
  });

  test('two containers claiming the same containerPort+protocol', () => {
    refuses(
      withContainers({ name: 'a', image: 'i', ports: [{ containerPort: 80 }] }, { name: 'b', image: 'i', ports: [{ containerPort: 80, protocol: 'TCP' }] }),
      'spec.containers[1].ports[0].containerPort',
      '80/TCP is already claimed by spec.containers[0].ports[0]',
    );
    refuses(withPorts({ containerPort: 53, protocol: 'UDP' }, { containerPort: 53, protocol: 'UDP' }), 'spec.containers[0].ports[1].containerPort', '53/UDP');
  });

  test('two ports claiming the same hostPort+protocol+hostIP (an all-addresses binding collides with every address)', () => {
    refuses(
      withContainers({ name: 'a', image: 'i', ports: [{ containerPort: 80, hostPort: 8080 }] }, { name: 'b', image: 'i', ports: [{ containerPort: 81, hostPort: 8080 }] }),
      'spec.containers[1].ports[0].hostPort',
      '8080/TCP on all addresses is already published by spec.containers[0].ports[0]',
    );
    refuses(
      withPorts({ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' }, { containerPort: 81, hostPort: 8080, hostIP: '127.0.0.1' }),
      'spec.containers[0].ports[1].hostPort',
      'on 127.0.0.1',
    );
    refuses(
      withPorts({ containerPort: 80, hostPort: 8080 }, { containerPort: 81, hostPort: 8080, hostIP: '127.0.0.1' }),
      'spec.containers[0].ports[1].hostPort',
      'already published by spec.containers[0].ports[0] (on all addresses)',
    );
  });

  test('hostNetwork: a hostPort must equal its containerPort', () => {
    refuses(JSON.stringify(pod({ hostNetwork: true, containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80, hostPort: 8080 }] }] })), 'spec.containers[0].ports[0].hostPort', 'must equal containerPort (80)');
  });

  test('a field of the prototype is not a manifest field', () => {
    refuses('metadata: {name: p}\nspec: {containers: [{name: c, image: i}], restartPolicy: toString}\n', 'spec.restartPolicy', 'must be one of');
    const { ignored } = parseManifest('metadata: {name: p, constructor: x}\nspec: {containers: [{name: c, image: i}]}\n');
    assert.deepEqual(ignored, ['metadata.constructor']);
  });
});

describe('podFromRun', () => {
  test('one container named after the pod; ports, env and args', () => {
    const p = podFromRun({
      name: 'web',
      image: 'nginx:1.27',
      ports: ['8080:80', '127.0.0.1:9000:9000/udp', '8443:443/TCP'],
      env: ['LOG_LEVEL=debug', 'EMPTY=', 'EQ=a=b'],
      command: ['nginx', '-g', 'daemon off;'],
    });
    assert.deepEqual(p, {
      name: 'web',
      namespace: 'default',
      labels: {},
      hostNetwork: false,
      restartPolicy: 'Always',
      shareProcessNamespace: false,
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          command: undefined,
          args: ['nginx', '-g', 'daemon off;'],
          env: [
            { name: 'LOG_LEVEL', value: 'debug' },
            { name: 'EMPTY', value: '' },
            { name: 'EQ', value: 'a=b' },
          ],
          ports: [
            { containerPort: 80, hostPort: 8080, hostIP: '', protocol: 'TCP' },
            { containerPort: 9000, hostPort: 9000, hostIP: '127.0.0.1', protocol: 'UDP' },
            { containerPort: 443, hostPort: 8443, hostIP: '', protocol: 'TCP' },
          ],
          workingDir: undefined,
        },
      ],
    });
  });

  test('defaults: no ports, env or command; a namespace', () => {
    const p = podFromRun({ name: 'a', image: 'busybox', ports: [], namespace: 'dev' });
    assert.equal(p.namespace, 'dev');
    assert.deepEqual(p.containers[0]?.ports, []);
    assert.deepEqual(p.containers[0]?.env, []);
    assert.equal(p.containers[0]?.args, undefined);
    assert.equal(podFromRun({ name: 'a', image: 'i', ports: [], command: [] }).containers[0]?.args, undefined);
  });

  test('refusals: names, image', () => {
    const run = (over: Partial<Parameters<typeof podFromRun>[0]>) => () => podFromRun({ name: 'web', image: 'img', ports: [], ...over });
    refusedBy(run({ name: '' }), 'NAME', 'is required');
    refusedBy(run({ name: 'Web_1' }), 'NAME', 'DNS-1123 label', '"web-1"');
    refusedBy(run({ namespace: 'Dev' }), '--namespace', 'DNS-1123 label');
    refusedBy(run({ image: '' }), '--image', 'is required');
    refusedBy(run({ image: 'a b' }), '--image', 'whitespace');
  });

  test('refusals: port strings', () => {
    const run = (...ports: string[]) => () => podFromRun({ name: 'web', image: 'img', ports });
    refusedBy(run('80'), '-p "80"', 'hostPort:containerPort');
    refusedBy(run('1:2:3:4'), '-p "1:2:3:4"', 'not a port mapping');
    refusedBy(run('http:80'), '-p "http:80"', 'hostPort "http" is not a port number');
    refusedBy(run('8080:'), '-p "8080:"', 'containerPort "" is not a port number');
    refusedBy(run('70000:80'), '-p "70000:80"', 'hostPort must be from 1 to 65535', '70000');
    refusedBy(run('8080:0'), '-p "8080:0"', 'containerPort must be from 1 to 65535');
    refusedBy(run('8080:80/sctp'), '-p "8080:80/sctp"', 'SCTP is not supported');
    refusedBy(run('8080:80/icmp'), '-p "8080:80/icmp"', 'unknown protocol');
    refusedBy(run('localhost:8080:80'), '-p "localhost:8080:80"', 'not an IPv4 address');
    refusedBy(run('8080:80', '8081:80'), '-p "8081:80"', '80/TCP is already claimed by -p "8080:80"');
    refusedBy(run('8080:80', '8080:81'), '-p "8080:81"', '8080/TCP on all addresses is already published by -p "8080:80"');
    refusedBy(run('127.0.0.1:8080:80', '8080:81'), '-p "8080:81"', 'already published by -p "127.0.0.1:8080:80"');
    assert.equal(podFromRun({ name: 'w', image: 'i', ports: ['8080:80', '8080:80/udp', '127.0.0.1:8081:81', '127.0.0.2:8081:82'] }).containers[0]?.ports.length, 4);
  });

  test('refusals: env strings', () => {
    const run = (...env: string[]) => () => podFromRun({ name: 'web', image: 'img', ports: [], env });
    refusedBy(run('LOG_LEVEL'), '-e "LOG_LEVEL"', 'NAME=VALUE');
    refusedBy(run('=x'), '-e "=x"', 'NAME=VALUE');
  });
});
