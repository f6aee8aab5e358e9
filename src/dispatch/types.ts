// Noise control's shared shapes (contract §9). A planned delivery, once placed: policy has decided
// (pending or blocked), the silences have had their say (silenced), and a grouped rule has said
// which group it joins. The store acts on `group` inside the ingest transaction (Store.ingest).
import type { PlannedDelivery } from '../rules/route.js';

/** Which group a delivery joins, and the rule's timing as of this event. */
export interface GroupPlacement {
  /** The values of `by`, canonical JSON of the list: with (rule, destination), the group. */
  key: string;
  /** The values of `by`, by path as written; an absent field is null. */
  values: Record<string, unknown>;
  waitMs: number;
  intervalMs: number;
}

export interface PlacedDelivery extends Omit<PlannedDelivery, 'status'> {
  status: PlannedDelivery['status'] | 'silenced';
  /** Set on a pending delivery of a grouped rule: it joins this group instead of being sent alone. */
  group?: GroupPlacement | null;
}
