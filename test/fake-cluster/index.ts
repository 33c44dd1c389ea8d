/**
 * FAKE Kubernetes cluster for tests (never shipped): a fake API server spoken to through the
 * real @kubernetes/client-node, fake kubelets, a fake scheduler and workload helpers.
 * See README.md here and docs/testing.md for what is faithful and what is missing.
 */
export { FakeApiServer } from './api-server.js';
export type { FakeApiServerOptions } from './api-server.js';
export type { AdmissionCall, MutatingWebhookConfig, WebhookRule } from './admission.js';
export type { PolicyRule, TokenEntry, UserInfo } from './auth.js';
export { generateTls, removeTls } from './certs.js';
export type { TlsBundle, TlsOptions } from './certs.js';
export type { ExecHandler, ExecRequest, ExecTarget } from './exec.js';
export { FakeKubelet, mountMap, runWithNode } from './kubelet.js';
export { KubeletStreamingServer } from './kubelet-streaming.js';
export type { KubeletExec, KubeletExecResolver, KubeletTls } from './kubelet-streaming.js';
export type { FakeKubeletOptions, InitContainerResult, InitContainerRun, InitContainerRunner } from './kubelet.js';
export { FERRY_CRDS } from './resources.js';
export type { CustomResourceDefinition } from './resources.js';
export { FakeScheduler } from './scheduler.js';
export { FakeSnapshotter } from './snapshotter.js';
export type { FakeSnapshotterOptions } from './snapshotter.js';
export type { FakeSchedulerOptions } from './scheduler.js';
export { createFakeStorageClasses, FakeProvisioner, FAKE_STORAGE_CLASSES, provisionAndBind } from './provisioner.js';
export type { FakeProvisionerOptions } from './provisioner.js';
export { createBoundPvc, createReplicaSetPods, createStatefulSetPods, FAKE_CSI_DRIVER } from './workloads.js';
export type { BoundPvcOptions, ReplicaSetPodsOptions, StatefulSetPodsOptions } from './workloads.js';
export { applyJsonPatch, applyMergePatch } from './json-patch.js';
