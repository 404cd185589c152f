// Validates rendered Kubernetes objects offline against the Kubernetes API
// schemas (kubernetes-models) and the Prometheus Operator CRD schemas, and
// refuses unknown fields (a misspelt "readinesProbe" passes schema validation
// but is silently dropped by the API server): every object is type-checked as
// an object literal of its API type, whose excess-property check names the
// unknown field.
//
//   node validate.mjs rendered.json [more.json ...]
//
// The type check names at most one problem per object literal; fix it and
// run again to see the next.
//
// Each file holds a JSON list of objects (render.py --json). Exit status 0
// when every object is valid, 1 otherwise; one line per problem on stderr.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// apiVersion/kind -> [module, type name] of every kind the manifests may use.
// Objects of any other kind are refused, never passed unchecked.
export const KINDS = {
  "v1/Namespace": ["kubernetes-models/v1/Namespace", "INamespace"],
  "v1/ConfigMap": ["kubernetes-models/v1/ConfigMap", "IConfigMap"],
  "v1/Secret": ["kubernetes-models/v1/Secret", "ISecret"],
  "v1/Service": ["kubernetes-models/v1/Service", "IService"],
  "v1/ServiceAccount": ["kubernetes-models/v1/ServiceAccount", "IServiceAccount"],
  "v1/PersistentVolumeClaim": [
    "kubernetes-models/v1/PersistentVolumeClaim",
    "IPersistentVolumeClaim",
  ],
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "IDeployment"],
  "policy/v1/PodDisruptionBudget": [
    "kubernetes-models/policy/v1/PodDisruptionBudget",
    "IPodDisruptionBudget",
  ],
  "autoscaling/v2/HorizontalPodAutoscaler": [
    "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
    "IHorizontalPodAutoscaler",
  ],
  "networking.k8s.io/v1/NetworkPolicy": [
    "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
    "INetworkPolicy",
  ],
  "monitoring.coreos.com/v1/ServiceMonitor": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
    "IServiceMonitor",
  ],
};

function describe(obj) {
  return `${obj?.kind ?? "?"}/${obj?.metadata?.name ?? "?"}`;
}

// Schema validation: types, required fields, formats, enums.
export function schemaProblems(objects) {
  const problems = [];
  for (const obj of objects) {
    const entry = KINDS[`${obj?.apiVersion}/${obj?.kind}`];
    if (!entry) {
      problems.push(
        `${describe(obj)}: no schema for apiVersion ${obj?.apiVersion} kind ${obj?.kind}`,
      );
      continue;
    }
    const module = require(entry[0]);
    const Model = module[entry[1].slice(1)];
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`${describe(obj)}: ${e.message.split("\n").join("; ")}`);
    }
  }
  return problems;
}

// Declaration files parsed by earlier checks in this process, by path.
const parsedDeclarations = new Map();

// Unknown-field check: one TypeScript program, each object a typed literal.
export function unknownFieldProblems(objects) {
  const known = objects.filter((o) => KINDS[`${o?.apiVersion}/${o?.kind}`]);
  if (known.length === 0) return [];
  const lines = known.map((obj, i) => {
    const [module, type] = KINDS[`${obj.apiVersion}/${obj.kind}`];
    return `import type { ${type} as T${i} } from "${module}";`;
  });
  // The line each object starts on, to name the object a diagnostic is in.
  const firstLine = [];
  known.forEach((obj, i) => {
    firstLine.push(lines.length);
    lines.push(...`export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};`.split("\n"));
  });
  const fileName = path.join(here, "__rendered_objects__.ts");
  const text = lines.join("\n");
  const options = {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, onError, create) => {
    if (name === fileName) return ts.createSourceFile(name, text, version);
    // The type declarations never change during a run: parse each once.
    if (!parsedDeclarations.has(name)) {
      parsedDeclarations.set(name, getSourceFile(name, version, onError, create));
    }
    return parsedDeclarations.get(name);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? text : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  const problems = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "; ");
    if (!d.file || d.file.fileName !== fileName) {
      problems.push(`type check: ${message}`);
      continue;
    }
    const { line: at } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    let index = 0;
    while (index + 1 < firstLine.length && firstLine[index + 1] <= at) index++;
    const field = lines[at].trim().replace(/:.*$/, "");
    problems.push(`${describe(known[index])}: ${field}: ${message}`);
  }
  return problems;
}

export function validate(objects) {
  return [...schemaProblems(objects), ...unknownFieldProblems(objects)];
}

function main(files) {
  if (files.length === 0) {
    console.error("usage: node validate.mjs rendered.json [more.json ...]");
    return 2;
  }
  let failed = false;
  for (const file of files) {
    const objects = JSON.parse(fs.readFileSync(file, "utf8"));
    if (!Array.isArray(objects)) {
      console.error(`${file}: not a JSON list of objects`);
      failed = true;
      continue;
    }
    const problems = validate(objects);
    for (const p of problems) console.error(`${file}: ${p}`);
    if (problems.length) failed = true;
    else console.log(`${file}: ${objects.length} objects valid`);
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
