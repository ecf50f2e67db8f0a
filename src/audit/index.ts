// The audit module: an append-only, hash-chained log of who did what. Every module writes through it,
// inside the transaction of the change it records.
export {
  type ActorType,
  type Audit,
  type AuditEvent,
  type AuditLine,
  type ChainProblem,
  canonicalJson,
  createAudit,
  GENESIS_HASH,
  type Outcome,
  type VerifyResult,
} from './audit.ts';
