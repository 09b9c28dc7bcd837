// whet doctor: checks that a machine can train, each with a verdict, the value measured and a fix.
export { runDoctor, quickDoctor, launchNcclEnv, type DoctorOptions } from "./doctor.ts";
export { saveReport, renderReport, exitCode, launchRefusal, REPORT_FILE, type Report, type Check, type Verdict, type Summary } from "./report.ts";
export { ncclEnv, ncclProblems, type NcclFacts } from "./nccl-env.ts";
export { busFactor, bandwidth, expectedBusBandwidth } from "./bandwidth.ts";
export { parseGpuDetails, parseTopology, parseCudaVersion, readNvidia } from "./nvidia.ts";
