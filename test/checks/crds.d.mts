// Types for crds.mjs, so TypeScript tests can import it.
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}
export declare const root: string;
export declare function renderFiles(api: unknown): GeneratedFile[];
export declare function diffFiles(files: readonly GeneratedFile[]): string[];
