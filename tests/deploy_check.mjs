// Validates Kubernetes manifests (a JSON array of objects on stdin) with the schemas of npm's
// kubernetes-models (core types) and @kubernetes-models/keda (KEDA's CRDs): one line per object, exit 1 on
// the first that does not validate. Usage: node deploy_check.mjs <tools folder with node_modules>
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";

const tools = process.argv[2];
const documents = JSON.parse(readFileSync(0, "utf8"));
for (const document of documents) {
  const [group, version] = document.apiVersion.includes("/") ? document.apiVersion.split("/") : ["", document.apiVersion];
  const module = group.endsWith("keda.sh")
    ? `@kubernetes-models/keda/${group}/${version}/${document.kind}.js`
    : `kubernetes-models/${group ? `${group}/` : ""}${version}/${document.kind}.js`;
  const exported = await import(pathToFileURL(`${tools}/node_modules/${module}`).href);
  try {
    new exported[document.kind](document).validate();
  } catch (error) {
    console.log(`invalid ${document.apiVersion} ${document.kind} ${document.metadata?.name}: ${error.message}`);
    process.exit(1);
  }
  console.log(`valid ${document.apiVersion} ${document.kind} ${document.metadata?.name}`);
}
