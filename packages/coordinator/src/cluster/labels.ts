/** On pods adopted by the restore webhook: the Restore they belong to. Both cluster states watch pods by it. */
export const RESTORED_POD_LABEL = 'restore.ferry.dev/restore';
