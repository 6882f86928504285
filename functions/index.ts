/**
 * The app's entry (package.json `main`): importing a module registers its functions with the
 * Functions host. Every function module is listed here. Nothing here may throw (see ./startup).
 */
import { checkAtStartup } from './startup';

import './health';
import './requests';
import './audit';
import './revocation';
import './reconcile';
import './review';
import './csrf';
import './notifications';
import './events';
import './teams';

checkAtStartup();
