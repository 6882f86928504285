import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext } from '../shared/app';
import { endpoint, fromProblem, json, problemResponse, readJsonObject } from './http';

/** The Bot Connector's POSTs: only an activity the SDK authenticates reaches the bot. */
async function messages(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const run = appContext().teamsBot();
  if (!run) return problemResponse(404, 'teams-bot-not-configured', 'This app has no Teams bot: set BOT_APP_ID to the managed identity client id registered as the Azure Bot');
  const body = await readJsonObject(request);
  if (!body.ok) return fromProblem(body);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  const answer = await run(headers, body.value);
  if (answer.status === 401) return problemResponse(401, 'bot-token-invalid', 'The Bot Framework token is missing or not valid for this bot; only the Bot Connector calls this route');
  if (answer.status >= 500) throw new Error(`The bot failed on an activity: ${String(answer.body)}`);
  if (answer.status >= 400 && typeof answer.body === 'string') return problemResponse(answer.status, 'invalid-activity', 'The activity is not one this bot takes');
  return answer.body === undefined ? { status: answer.status } : json(answer.status, answer.body);
}

app.http('teams-messages', { methods: ['POST'], authLevel: 'anonymous', route: 'api/messages', handler: endpoint(messages) });
