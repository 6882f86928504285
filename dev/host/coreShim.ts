import Module from 'node:module';

const CORE_MODULE = '@azure/functions-core';

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

/**
 * Makes `require('@azure/functions-core')` resolve to our functionsCore module. Under jest the
 * `moduleNameMapper` in jest.config.js already does this, and inside a real Functions worker the
 * worker provides the module, so the hook is only installed when the name does not resolve yet.
 */
export function installFunctionsCoreShim(): void {
  if (coreResolves()) return;
  const shimPath = require.resolve('./functionsCore');
  const loader = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = loader._resolveFilename;
  loader._resolveFilename = function resolveWithCoreShim(request, parent, isMain, options) {
    if (request === CORE_MODULE) return shimPath;
    return original.call(this, request, parent, isMain, options);
  };
}

function coreResolves(): boolean {
  try {
    require.resolve(CORE_MODULE);
    return true;
  } catch {
    return false;
  }
}
