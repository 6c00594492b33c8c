// Who may do what on the simulated site: the permission keys it knows (global and per project,
// as /mypermissions names them) and the project roles it defines. Who holds them is SimState's.

/** Permissions a site admin holds (and that /mypermissions knows about). */
export const GLOBAL_PERMISSIONS = ['ADMINISTER', 'SYSTEM_ADMIN', 'USER_PICKER', 'CREATE_SHARED_OBJECTS', 'MANAGE_GROUP_FILTER_SUBSCRIPTIONS', 'BULK_CHANGE'];
export const PROJECT_PERMISSIONS = [
  'BROWSE_PROJECTS',
  'CREATE_ISSUES',
  'ADD_COMMENTS',
  'CREATE_ATTACHMENTS',
  'EDIT_ISSUES',
  'ASSIGN_ISSUES',
  'TRANSITION_ISSUES',
  'MODIFY_REPORTER',
  // "Administer projects": in a service project, the Administrators role (service desk administrator).
  'ADMINISTER_PROJECTS',
  // A service project's agents (the Service Desk Team role); the platform spec lists it for /mypermissions.
  'SERVICEDESK_AGENT',
  // "Link issues": needed on the outward issue's project by POST /rest/api/3/issueLink.
  'LINK_ISSUES',
];
/** Project roles a Jira Cloud site with JSM defines by default. */
export const DEFAULT_ROLE_NAMES = ['Administrators', 'atlassian-addons-project-access', 'Service Desk Team', 'Service Desk Customers'];
