// The dependency-direction check of `npm test`. It reads every import under src/ and fails when:
//   - a module imports a lower-to-higher layer (edges → business → foundation → shared/db, never back);
//   - a module reaches into another module past its index.ts (tests and test helpers may also use
//     <module>/testing.ts);
//   - modules import each other in a cycle.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve('src');

/** Layer of each top-level module (bigger may import smaller or equal, never the other way). */
const LAYERS: Record<string, number> = {
  shared: 0,
  db: 0,
  'protocols/iso8583': 0,
  audit: 1,
  ledger: 1,
  keys: 1,
  notify: 1,
  merchants: 2,
  terminals: 2,
  payments: 2,
  risk: 2,
  billpay: 2,
  settlement: 2,
  store: 2,
  receipts: 2,
  connectors: 3,
  demo: 3,
  root: 4, // main.ts, config.ts, master-key.ts: the composition root
  host: 5,
  'terminal-sim': 5,
  http: 5,
  cli: 6,
};
/** Modules any file may import file by file (no index.ts). */
const OPEN_MODULES = new Set(['shared', 'root']);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'migrations' || name === 'testdata' ? [] : walk(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

/** `ledger`, `protocols/iso8583`, `connectors/card-network`, or `root` for files directly in src/. */
function moduleOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  if (parts.length === 1) return 'root';
  if (parts[0] === 'protocols' || parts[0] === 'connectors') return `${parts[0]}/${parts[1]}`;
  return parts[0]!;
}

function layerOf(module: string): number | undefined {
  return LAYERS[module] ?? LAYERS[module.split('/')[0]!];
}

const IMPORT =
  /(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

const problems: string[] = [];
const edges = new Map<string, Set<string>>();
const files = walk(SRC);

for (const file of files) {
  const from = moduleOf(file);
  const isTest = file.endsWith('.test.ts') || path.basename(file) === 'testing.ts';
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2]!;
    if (!specifier.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), specifier);
    if (!target.startsWith(SRC)) continue;
    const to = moduleOf(target);
    if (to === from) continue;
    const where = `${path.relative('.', file)} imports ${specifier}`;
    const fromLayer = layerOf(from);
    const toLayer = layerOf(to);
    if (fromLayer === undefined)
      problems.push(`${where}: module ${from} has no layer in scripts/check-deps.ts`);
    if (toLayer === undefined) problems.push(`${where}: module ${to} has no layer in scripts/check-deps.ts`);
    if (fromLayer !== undefined && toLayer !== undefined && toLayer > fromLayer) {
      problems.push(`${where}: ${from} (layer ${fromLayer}) may not depend on ${to} (layer ${toLayer})`);
    }
    const base = path.basename(target);
    const moduleRoot = path.join(SRC, to === 'root' ? '' : to);
    const isEntry =
      path.dirname(target) === moduleRoot && (base === 'index.ts' || (isTest && base === 'testing.ts'));
    if (!OPEN_MODULES.has(to) && !isEntry) {
      problems.push(
        `${where}: import ${to} through ${path.relative('.', path.join(moduleRoot, 'index.ts'))}`,
      );
    }
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from)!.add(to);
  }
}

// Cycles between modules (depth-first search).
const state = new Map<string, 'visiting' | 'done'>();
function visit(module: string, trail: string[]): void {
  if (state.get(module) === 'done') return;
  if (state.get(module) === 'visiting') {
    problems.push(`cycle: ${[...trail.slice(trail.indexOf(module)), module].join(' → ')}`);
    return;
  }
  state.set(module, 'visiting');
  for (const next of edges.get(module) ?? []) visit(next, [...trail, module]);
  state.set(module, 'done');
}
for (const module of edges.keys()) visit(module, []);

if (problems.length > 0) {
  console.error(`dependency check: ${problems.length} problem(s)`);
  for (const problem of problems) console.error(`  ${problem}`);
  process.exit(1);
}
console.log(
  `dependency check: ${files.length} files, ${edges.size} modules, imports point one way, no cycles`,
);
