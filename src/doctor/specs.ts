// Reference figures the doctor compares measurements against. Data, with where each comes from.

/** Dense (no sparsity) bf16 tensor-core peak, TFLOP/s, from NVIDIA's datasheets. First match wins. */
export const BF16_PEAK_TFLOPS: { match: RegExp; tflops: number; source: string }[] = [
  { match: /H200/i, tflops: 989, source: "NVIDIA H200 SXM datasheet (1979 with sparsity)" },
  { match: /H100.*(PCIe|NVL)/i, tflops: 756, source: "NVIDIA H100 PCIe datasheet (1513 with sparsity)" },
  { match: /H100/i, tflops: 989, source: "NVIDIA H100 SXM datasheet (1979 with sparsity)" },
  { match: /GH200/i, tflops: 989, source: "NVIDIA GH200 datasheet" },
  { match: /A100/i, tflops: 312, source: "NVIDIA A100 datasheet (624 with sparsity)" },
  { match: /A800/i, tflops: 312, source: "NVIDIA A800 datasheet" },
  { match: /L40S/i, tflops: 362, source: "NVIDIA L40S datasheet (733 with sparsity)" },
  { match: /L40\b/i, tflops: 181, source: "NVIDIA L40 datasheet (362 with sparsity)" },
  { match: /\bL4\b/i, tflops: 121, source: "NVIDIA L4 datasheet (242 with sparsity)" },
  { match: /A10\b/i, tflops: 125, source: "NVIDIA A10 datasheet (250 with sparsity)" },
  { match: /RTX 6000 Ada/i, tflops: 364, source: "NVIDIA RTX 6000 Ada datasheet (FP32 accumulate)" },
  { match: /A6000/i, tflops: 155, source: "NVIDIA RTX A6000 datasheet (FP32 accumulate)" },
  { match: /RTX 4090/i, tflops: 165, source: "NVIDIA Ada whitepaper, RTX 4090 FP16/BF16 with FP32 accumulate" },
  { match: /RTX 3090/i, tflops: 71, source: "NVIDIA Ampere GA102 whitepaper, RTX 3090 with FP32 accumulate" },
];

export function bf16Peak(gpuName: string): { tflops: number; source: string } | undefined {
  const hit = BF16_PEAK_TFLOPS.find((p) => p.match.test(gpuName));
  return hit && { tflops: hit.tflops, source: hit.source };
}

/**
 * One NVLink, one direction: 25 GB/s for NVLink 2, 3 and 4 (V100 6 links, A100 12, H100/H200 18,
 * so 150/300/450 GB/s per GPU per direction), from NVIDIA's NVLink page and the DGX datasheets.
 */
export const NVLINK_GBPS_PER_LINK = 25;

/**
 * PCIe x16, one direction, what a copy achieves rather than the raw signalling rate
 * (Gen3 15.8, Gen4 31.5, Gen5 63 GB/s raw; about 80% survives the protocol overhead).
 */
export const PCIE_X16_GBPS: Record<number, number> = { 3: 12, 4: 25, 5: 50 };

/** Below these fractions of the expected figure a measurement is a warning. */
export const GOOD_FRACTION = { busbw: 0.5, matmul: 0.55 } as const;
