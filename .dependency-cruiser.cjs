/**
 * The layer rules (docs/architecture.md): dependencies point inwards, the domain is pure, the
 * deployed app never loads dev/, and the emulators never load the app they are used to check.
 * `npm run lint:layers` checks them; `npm test` runs it.
 */
const EMULATORS = '^dev/(arm-emulator|hsm-emulator|eventgrid-emulator|graph-emulator|emulator-common|idp|mail-sink|teams-sink)/';

module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'shared/domain has no I/O and no Azure SDK: it depends on nothing but itself and a few pure libraries.',
      severity: 'error',
      from: { path: '^shared/domain/' },
      to: {
        // node:crypto hashes (the audit chain); no other core module is allowed.
        pathNot: ['^shared/domain/', '^node_modules/(yaml|ajv|ajv-formats|uuid)/', '^crypto$'],
      },
    },
    {
      name: 'services-not-to-adapters',
      comment: 'Application services drive ports (shared/services/*Ports.ts, ports.ts); adapters implement them and are wired in shared/app.ts.',
      severity: 'error',
      from: { path: '^shared/services/' },
      to: { path: ['^shared/adapters/', '^shared/app\\.ts$', '^functions/'] },
    },
    {
      name: 'adapters-not-to-edge',
      comment: 'Adapters know their port and the domain, never the Functions edge or the composition root.',
      severity: 'error',
      from: { path: '^shared/adapters/' },
      to: { path: ['^functions/', '^shared/app\\.ts$'] },
    },
    {
      name: 'functions-not-to-adapters',
      comment: 'Each function is a short adapter over services built by shared/app.ts; it does not reach into adapters.',
      severity: 'error',
      // functions/telemetry.ts is the exception: it starts OpenTelemetry before the composition root
      // loads any Azure SDK client, so it cannot go through shared/app.ts.
      from: { path: '^functions/', pathNot: '^functions/telemetry\\.ts$' },
      to: { path: '^shared/adapters/' },
    },
    {
      name: 'app-never-loads-dev',
      comment: 'The deployed app never loads dev/ (the local stack and emulators).',
      severity: 'error',
      from: { path: '^(functions|shared)/' },
      to: { path: '^dev/' },
    },
    {
      name: 'emulators-independent-of-the-app',
      comment: 'An emulator checks the app against Azure as recorded: sharing the app\'s code would hide the very bugs it is there to find.',
      severity: 'error',
      from: { path: EMULATORS },
      to: { path: ['^shared/', '^functions/'] },
    },
    {
      name: 'no-circular',
      comment: 'Modules of the app do not import each other in a circle.',
      severity: 'error',
      from: { path: '^(functions|shared)/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|coverage|test-artifacts|\\.data)/' },
  },
};
