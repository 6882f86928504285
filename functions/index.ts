/**
 * The app's entry (package.json `main`): importing a module registers its functions with the
 * Functions host. Every function module is listed here. Nothing here may throw (see ./startup).
 */
import { checkAtStartup } from './startup';
import { traceInvocations } from './telemetry';

import './health';
import './requests';
import './audit';
import './auditAnchor';
import './revocation';
import './reconcile';
import './review';
import './csrf';
import './notifications';
import './events';
import './eligibility';
import './portal';
import './oversight';
import './teams';
import './evidence';

checkAtStartup();
traceInvocations();
