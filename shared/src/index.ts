export * from './api.js';
export * from './ids.js';
export * from './clock.js';
export * from './attack-data.js';
export * from './cli-error.js';
export * from './attack/bundle.js';
export * from './features/index.js';
