/** Object refs that several type modules point at (implemented in their own modules). */
import type { InvitationRow, MemberRow } from '../domain/people.js';
import type { TeamRow } from '../domain/teams.js';
import { builder } from './builder.js';

export const MemberRef = builder.objectRef<MemberRow>('Member');
export const TeamRef = builder.objectRef<TeamRow>('Team');
export const InvitationRef = builder.objectRef<InvitationRow>('Invitation');
