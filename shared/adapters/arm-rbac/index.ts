export * from './assignmentPort';
export * from './client';
export * from './errors';
export * from './ids';
export * from './roles';
