// Throughput of bpmn-engine 25 on one BPMN file: completed process instances
// ("Requests") per second, run one after another on one JS thread (V8 still
// uses its GC helper threads, see README.md).
//
// Usage: node bpmn_engine_bench.mjs BPMN_FILE SECONDS
// Prints: bpmn-engine requests_per_sec=<float> requests=<int> seconds=<float>
//
// run.sh copies this file into the cache's npm project (which holds
// bpmn-engine@25) as bpmn_engine_bench.mjs and runs it there, so the bare
// imports below resolve to that project's node_modules (ESM build).
//
// Condition dialect: bpmn-engine does not evaluate FEEL or Python. A plain
// conditionExpression body is treated as a template: only `${a.b.c}` property
// lookups are resolved and anything else is returned as the literal string,
// which is truthy, so `amount > 100` would "pass" without ever being evaluated.
// Its `${...}` expressions have no comparison operators either. So, in memory
// only, this script rewrites the ONE condition `amount > 100` into the
// engine's script-condition dialect:
//   <conditionExpression language="javascript">next(null, environment.variables.amount > 100)</conditionExpression>
// Nothing else in the XML is touched: same elements, ids and flows.

import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';

import { Engine } from 'bpmn-engine';
// bpmn-engine's own dependencies, used to parse + serialize the XML once; the
// serialized "sourceContext" is what Engine({ sourceContext }) accepts.
import BpmnModdle from 'bpmn-moddle';
import serializer, { TypeResolver } from 'moddle-context-serializer';
import * as Elements from 'bpmn-elements';

const [bpmnFile, secondsArg] = process.argv.slice(2);
if (!bpmnFile || !secondsArg) {
  console.error('usage: node bpmn_engine_bench.mjs BPMN_FILE SECONDS');
  process.exit(2);
}
const seconds = Number(secondsArg);

const engineVersion = JSON.parse(readFileSync(new URL('./node_modules/bpmn-engine/package.json', import.meta.url), 'utf8')).version;
if (!engineVersion.startsWith('25.')) throw new Error(`expected bpmn-engine 25.x, found ${engineVersion}`);

// --- load and adapt the XML once -------------------------------------------
const originalXml = readFileSync(bpmnFile, 'utf8');
const conditionRe = /<bpmn:conditionExpression\b([^>]*)>\s*amount &gt; 100\s*<\/bpmn:conditionExpression>/g;
const matches = originalXml.match(conditionRe) || [];
if (matches.length !== 1) {
  throw new Error(`expected exactly one conditionExpression "amount &gt; 100", found ${matches.length}`);
}
const xml = originalXml.replace(
  conditionRe,
  '<bpmn:conditionExpression$1 language="javascript">next(null, environment.variables.amount &gt; 100)</bpmn:conditionExpression>'
);

const moddleContext = await new BpmnModdle().fromXML(xml);
if (moddleContext.warnings?.length) {
  throw new Error(`bpmn-moddle warnings: ${moddleContext.warnings.map((w) => w.message).join('; ')}`);
}
const sourceContext = serializer(moddleContext, TypeResolver(Elements));

// --- one Request ------------------------------------------------------------
// A fresh Engine per Request (an Engine holds exactly one running execution),
// sharing the parsed + serialized sourceContext.
function runOne(ended, amount = 500) {
  const listener = new EventEmitter();
  listener.on('activity.end', (api) => ended.push(api.id));
  const engine = new Engine({ name: 'fork_join', sourceContext });
  return new Promise((resolve, reject) => {
    engine
      .execute({ listener, variables: { amount } }, (err, execution) => {
        if (err) return reject(err);
        if (execution.state !== 'idle' || execution.stopped) {
          return reject(new Error(`instance did not complete: state=${execution.state}`));
        }
        resolve(execution);
      })
      .catch(reject);
  });
}

// Before timing: check the model really runs through the fork, and that the
// condition is really evaluated (amount=50 must take the default flow).
{
  const ended = [];
  await runOne(ended);
  const got = new Set(ended);
  const want = ['start', 'check', 'fork', 'task_a', 'task_b', 'join', 'end'];
  const missing = want.filter((id) => !got.has(id));
  if (missing.length || got.has('end_small') || ended.length !== want.length) {
    throw new Error(`amount=500 took an unexpected path: ended=${JSON.stringify(ended)} missing=${JSON.stringify(missing)}`);
  }
  const small = [];
  await runOne(small, 50);
  if (!small.includes('end_small') || small.includes('fork')) {
    throw new Error(`amount=50 did not take the default flow: ended=${JSON.stringify(small)}`);
  }
}

// --- timed loop -------------------------------------------------------------
let requests = 0;
const t0 = process.hrtime.bigint();
const deadline = t0 + BigInt(Math.round(seconds * 1e9));
let now = t0;
while (now < deadline) {
  const ended = [];
  await runOne(ended);
  if (ended[ended.length - 1] !== 'end' || ended.length !== 7) {
    throw new Error(`Request ${requests} did not end at "end": ${JSON.stringify(ended)}`);
  }
  requests++;
  now = process.hrtime.bigint();
}
const elapsed = Number(now - t0) / 1e9;
console.log(`bpmn-engine requests_per_sec=${(requests / elapsed).toFixed(1)} requests=${requests} seconds=${elapsed.toFixed(3)}`);
