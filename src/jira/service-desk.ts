// Jira Service Management: service desks, their customers, request types and requests.
import { RetryableError } from '../core/errors.js';
import { jiraErrorText } from './classify.js';
import type { JiraClient } from './client.js';
import { enc, type JiraCore } from './core.js';
import { toAccount } from './match.js';

export type ServiceDeskMethods = Pick<
  JiraClient,
  'serviceDeskProject' | 'createCustomer' | 'addCustomersToServiceDesk' | 'getRequestParticipants' | 'addRequestComment' | 'createRequest' | 'getServiceDesk' | 'getRequestType'
>;

export function serviceDeskMethods({ call, expectOk, authFirst }: JiraCore): ServiceDeskMethods {
  return {
    async serviceDeskProject(serviceDeskId) {
      const op = 'getServiceDeskById';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}` })) as { projectId?: unknown; projectKey?: unknown };
      if (!body?.projectId && !body?.projectKey) throw new RetryableError(`Jira ${op} returned no project for service desk ${serviceDeskId}`);
      return { projectId: String(body.projectId ?? ''), projectKey: String(body.projectKey ?? '') };
    },

    async createCustomer(input) {
      const op = 'createCustomer';
      const a = await call(op, {
        method: 'POST',
        path: '/rest/servicedeskapi/customer',
        query: { strictConflictStatusCode: true },
        json: { email: input.email, displayName: input.displayName },
        headers: { 'X-ExperimentalApi': 'opt-in' },
      });
      authFirst(op, a);
      if (a.status === 409) return 'exists';
      if (a.status === 400 && /already exists/i.test(jiraErrorText(a.body))) return 'exists';
      return toAccount(expectOk(op, a), 'customer');
    },

    async addCustomersToServiceDesk(serviceDeskId, accountIds) {
      const op = 'addCustomers';
      expectOk(op, await call(op, {
        method: 'POST',
        path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}/customer`,
        json: { accountIds },
        headers: { 'X-ExperimentalApi': 'opt-in' },
      }));
    },

    async getRequestParticipants(issueIdOrKey) {
      const op = 'getRequestParticipants';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/servicedeskapi/request/${enc(issueIdOrKey)}/participant` })) as { values?: { accountId?: string }[] };
      return (body?.values ?? []).map((w) => w.accountId).filter((id): id is string => !!id);
    },

    async addRequestComment(issueIdOrKey, text, isPublic) {
      const op = 'createRequestComment';
      const body = expectOk(op, await call(op, { method: 'POST', path: `/rest/servicedeskapi/request/${enc(issueIdOrKey)}/comment`, json: { body: text, public: isPublic } })) as { id?: unknown };
      return { id: String(body?.id ?? '') };
    },

    async createRequest(input) {
      const op = 'createCustomerRequest';
      const json: Record<string, unknown> = {
        serviceDeskId: input.serviceDeskId,
        requestTypeId: input.requestTypeId,
        requestFieldValues: { summary: input.summary, description: input.description },
        raiseOnBehalfOf: input.raiseOnBehalfOf,
      };
      if (input.requestParticipants?.length) json.requestParticipants = input.requestParticipants;
      const body = expectOk(op, await call(op, { method: 'POST', path: '/rest/servicedeskapi/request', json })) as { issueId?: string; issueKey?: string };
      if (!body?.issueKey) throw new RetryableError(`Jira ${op} returned no issue key`);
      return { issueId: String(body.issueId ?? ''), issueKey: String(body.issueKey) };
    },

    async getServiceDesk(serviceDeskId) {
      const op = 'getServiceDeskById';
      const body = expectOk(op, await call(op, { method: 'GET', path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}` })) as Record<string, unknown>;
      return { id: String(body?.id ?? ''), projectKey: String(body?.projectKey ?? ''), projectName: String(body?.projectName ?? '') };
    },

    async getRequestType(serviceDeskId, requestTypeId) {
      const op = 'getRequestTypeById';
      const body = expectOk(op, await call(op, {
        method: 'GET',
        path: `/rest/servicedeskapi/servicedesk/${enc(serviceDeskId)}/requesttype/${enc(requestTypeId)}`,
      })) as Record<string, unknown>;
      return { id: String(body?.id ?? ''), name: String(body?.name ?? '') };
    },
  };
}
