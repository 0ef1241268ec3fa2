import { Type } from 'class-transformer';
import {
  IsDefined,
  IsIn,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

export const EXPERIMENT_EVENTS = [
  'ExperimentCreated',
  'ExperimentStarted',
  'ExperimentInprogress',
  'ExperimentUpdated',
  'ExperimentConcluded',
  'ExperimentDiscarded',
  'ExperimentPaused',
] as const;
export const WEBHOOK_EVENTS = [...EXPERIMENT_EVENTS, 'ConfigChanged'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/**
 * Workspace and organisation ids are plain identifiers (ASCII letters, digits, `_`, `.`, `-`): they go
 * into headers, labels and names, where CR/LF, `/` or non-ASCII text could only do harm.
 */
const PLAIN_IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class EventInfoDto {
  @IsIn(WEBHOOK_EVENTS)
  webhook_event: WebhookEventName;

  @IsString()
  @IsNotEmpty()
  @MaxLength(253)
  @Matches(PLAIN_IDENTIFIER, { message: 'workspace_id must be a plain identifier (ASCII letters, digits, "_", "." and "-")' })
  workspace_id: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(253)
  @Matches(PLAIN_IDENTIFIER, { message: 'organisation_id must be a plain identifier (ASCII letters, digits, "_", "." and "-")' })
  organisation_id?: string;

  /** chrono's display form ("2026-08-20 07:37:40.123456789 UTC"), not ISO 8601: kept as text. */
  @IsOptional()
  @IsString()
  time?: string;

  /** The config version the event was sent at (null when Superposition has none): part of what a resolved config depends on. */
  @ValidateIf((_info, value) => value !== null && value !== undefined)
  @IsString()
  config_version?: string | null;

  // `resource` (any string) and `action` ("Create", "Update", "Delete", or an ARRAY of them for a
  // ConfigChanged bulk write) are not read: they are tolerated in any shape, like any unknown field.
}

/** The envelope of every Superposition webhook (docs/contract.md §1). */
export class WebhookEnvelopeDto {
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => EventInfoDto)
  event_info: EventInfoDto;

  /**
   * An experiment for Experiment* events (checked per event later); for ConfigChanged any JSON value
   * (an object for a default-config change, an ARRAY of contexts for a bulk context write), unread.
   */
  payload: unknown;
}
