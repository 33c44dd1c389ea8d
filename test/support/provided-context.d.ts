import 'vitest';

/** Connection to the throwaway Ceph RGW that global-setup.ts starts for the test run. */
export interface S3TestConnection {
  /** e.g. http://127.0.0.1:40123 (path-style addressing). */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3TestConnection;
  }
}
