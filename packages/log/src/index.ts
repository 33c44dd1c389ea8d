export { createLogger, isLogLevel, silentLogger } from './logger.js';
export type { Logger, LoggerOptions, LogFields, LogLevel } from './logger.js';
