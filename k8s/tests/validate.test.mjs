// Tests of validate.mjs: the project's rendered overlays are valid, and each
// kind of mistake (unknown field, wrong type, missing required field, unknown
// kind, a bad ServiceMonitor) is reported against the object it is in.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { validate } from "./validate.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const python = process.env.STYLIZER_PYTHON || "/usr/bin/python3";

function rendered(overlay) {
  const out = execFileSync(python, [
    path.join(here, "render.py"),
    "--json",
    path.join(here, "..", overlay),
  ]);
  return JSON.parse(out.toString());
}

function server(objects) {
  return objects.find((o) => o.kind === "Deployment").spec.template.spec.containers[0];
}

test("the project's base and overlays are valid", () => {
  for (const overlay of ["base", "overlays/gpu", "overlays/cpu"]) {
    assert.deepEqual(validate(rendered(overlay)), [], overlay);
  }
});

test("a misspelt field is reported", () => {
  const objects = rendered("overlays/gpu");
  const c = server(objects);
  c.readinesProbe = c.readinessProbe;
  delete c.readinessProbe;
  const problems = validate(objects);
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /^Deployment\/stylizer: "readinesProbe": .*known properties/);
});

test("a wrong type is reported", () => {
  const objects = rendered("overlays/gpu");
  server(objects).ports[0].containerPort = "50051";
  const problems = validate(objects);
  assert.ok(problems.some((p) => /containerPort must be integer/.test(p)), problems.join("\n"));
});

test("a missing required field is reported", () => {
  const objects = rendered("overlays/cpu");
  delete server(objects).name;
  const problems = validate(objects);
  assert.ok(problems.some((p) => /must have required property '?name'?/.test(p)), problems.join("\n"));
});

test("an object of an unknown kind is refused", () => {
  const problems = validate([{ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }]);
  assert.deepEqual(problems, ["Widget/w: no schema for apiVersion example.com/v1 kind Widget"]);
});

test("the ServiceMonitor is checked against its CRD schema", () => {
  let objects = rendered("overlays/gpu");
  let monitor = objects.find((o) => o.kind === "ServiceMonitor");
  monitor.spec.endpoints[0].scheme = "ftp";
  let problems = validate(objects);
  assert.ok(problems.some((p) => /^ServiceMonitor\/stylizer: .*scheme/.test(p)), problems.join("\n"));

  objects = rendered("overlays/gpu");
  monitor = objects.find((o) => o.kind === "ServiceMonitor");
  monitor.spec.endpoints[0].portName = "metrics";
  problems = validate(objects);
  assert.ok(problems.some((p) => /^ServiceMonitor\/stylizer: "portName"/.test(p)), problems.join("\n"));
});
