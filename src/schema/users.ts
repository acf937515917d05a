import type { UserRow } from '../domain/users.js';
import { builder } from './builder.js';

export const UserRef = builder.objectRef<UserRow>('User').implement({
  description: 'A person. You see yourself and the members of the organization you act in.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name', { nullable: true }),
    email: t.exposeString('email', { nullable: true }),
  }),
});
