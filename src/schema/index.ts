/** Imports every type module (each registers itself on the builder) and builds the schema. */
import { specifiedDirectives } from 'graphql';
import { AuthDirective, describeAuthRules } from './auth-rules.js';
import { builder } from './builder.js';
import './scalars.js';
import './catalogue.js';
import './users.js';
import './customers.js';
import './roles.js';
import './organizations.js';
import './viewer.js';
import './executions.js';
import './definitions.js';
import './connections.js';
import './teams.js';
import './people.js';
import './settings.js';
import './audit-log.js';
import './audit-verification.js';
import './workspaces.js';
import './project-roles.js';
import './project-members.js';
import './git-sync.js';
import './api-keys.js';
import './runners.js';

builder.queryType({ description: 'Reads. Every field states the permission (or rule) it needs.' });
builder.mutationType({
  description: 'Writes. Every field states the permission (or rule) it needs; every permission-gated mutation is audited.',
});

// Each field's rule, declared once in its authScopes, also shows in its description and as @auth.
export const schema = describeAuthRules(builder.toSchema({ directives: [...specifiedDirectives, AuthDirective] }));
