// The store's public face: the contract, its errors, and the factory.
export * from './types.js';
export { openStore, type OpenStoreOptions } from './open.js';
