// examples/deploy: the docker-compose file and the Kubernetes manifest parse, and name what the
// image really has (the Dockerfile's port, rules path and command) and the router's real probes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadRules } from '../src/config/load.js';
import { ROOT } from './helpers/cli.js';

const DIR = join(ROOT, 'examples', 'deploy');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const image = {
  port: Number(/^EXPOSE\s+(\d+)/m.exec(dockerfile)![1]),
  rulesFile: /RULES_FILE=(\S+)/.exec(dockerfile)![1]!,
  cmd: JSON.parse(/^CMD\s+(\[.*\])/m.exec(dockerfile)![1]!) as string[],
};

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML of unknown shape, walked by the assertions below
type Obj = Record<string, any>;

test('the image facts the examples rely on are in the Dockerfile', () => {
  assert.equal(image.port, 8080);
  assert.equal(image.rulesFile, '/config/rules.yaml');
  assert.deepEqual(image.cmd, ['serve']);
});

test('docker-compose: PostgreSQL and two replicas on it behind a proxy, with the image paths, port and readiness probe', () => {
  const doc = parseYaml(readFileSync(join(DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as Obj;
  const services = doc.services as Record<string, Obj>;
  assert.ok(services.postgres?.image?.startsWith('postgres:'), 'a PostgreSQL service');
  const routers = Object.entries(services).filter(([, s]) => s.image === 'b3os-router');
  assert.equal(routers.length, 2, 'two replicas');
  for (const [name, s] of routers) {
    assert.match(s.environment.DATABASE_URL, /^postgres:\/\/[^@]+@postgres:5432\//, `${name}: DATABASE_URL names the postgres service`);
    assert.equal(s.environment.RULES_FILE, image.rulesFile);
    assert.equal(Number(s.environment.PORT), image.port);
    assert.ok(
      s.volumes.some((v: string) => v.split(':')[1] === image.rulesFile),
      `${name}: the rules file mounted where the image reads it`,
    );
    assert.ok(s.healthcheck.test.join(' ').includes(`127.0.0.1:${image.port}/readyz`), `${name}: ready means /readyz`);
    assert.equal(s.depends_on.postgres.condition, 'service_healthy');
  }
  const nginx = readFileSync(join(DIR, 'nginx.conf'), 'utf8');
  for (const [name] of routers) assert.match(nginx, new RegExp(`server ${name}:${image.port}`), `the proxy sends to ${name}`);
  assert.ok(services.proxy.depends_on.length === 2);
  const { config, problems } = loadRules(join(DIR, 'rules.yaml'));
  assert.ok(config, JSON.stringify(problems));
});

test('Kubernetes: two pods with the router as a sidecar, the URL from a Secret, probes on /healthz and /readyz', () => {
  const docs = parseAllDocuments(readFileSync(join(DIR, 'kubernetes.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  assert.equal(deployment.spec.replicas, 2);
  const pod = deployment.spec.template.spec;
  assert.ok(pod.containers.length >= 2, 'the router beside the app');
  const router = pod.containers.find((c: Obj) => c.name === 'b3os-router');
  assert.deepEqual(router.args, image.cmd);
  assert.deepEqual(
    router.ports.map((p: Obj) => p.containerPort),
    [image.port],
  );
  const env = Object.fromEntries(router.env.map((e: Obj) => [e.name, e]));
  assert.deepEqual(env.DATABASE_URL.valueFrom.secretKeyRef.key, 'database-url');
  assert.ok(env.B3OS_WEBHOOK_SECRET.valueFrom.secretKeyRef);
  assert.equal(env.RULES_FILE.value, image.rulesFile);
  assert.ok(router.volumeMounts.some((m: Obj) => m.mountPath === dirname(image.rulesFile)));
  assert.deepEqual(router.livenessProbe.httpGet, { path: '/healthz', port: image.port });
  assert.deepEqual(router.readinessProbe.httpGet, { path: '/readyz', port: image.port });
  assert.ok(pod.terminationGracePeriodSeconds >= 10, 'room for the router to drain');
  const service = docs.find((d) => d.kind === 'Service')!;
  assert.equal(service.spec.ports[0].targetPort, image.port);
  assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
});
