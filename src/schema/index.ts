/** Imports every type module (each registers itself on the builder) and builds the schema. */
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
import './api-keys.js';
import './runners.js';

builder.queryType({ description: 'Reads. Every field states the permission it needs.' });
builder.mutationType({ description: 'Writes. Every permission-gated mutation is audited.' });

export const schema = builder.toSchema();
