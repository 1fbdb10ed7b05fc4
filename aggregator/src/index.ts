export type * from './store/types.js';
