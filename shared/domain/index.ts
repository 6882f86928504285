/** The pure domain core: no Azure SDK, no I/O, no clock (time is a parameter). */
export * from './duration';
export * from './scope';
export * from './roles';
export * from './policy/types';
export * from './policy/schema';
export * from './policy/parse';
export * from './eligibility';
export * from './approval';
export * from './lifecycle';
export * from './assignmentName';
export * from './audit';
export * from './events';
export * from './drift';
export * from './reports';
export * from './notifications';
export * from './driftNotification';
export * from './reviewToken';
