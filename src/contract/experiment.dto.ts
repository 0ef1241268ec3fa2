import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { LABEL_VALUE_ID } from '../naming/names';

export const EXPERIMENT_STATUSES = ['CREATED', 'INPROGRESS', 'PAUSED', 'CONCLUDED', 'DISCARDED'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

export const VARIANT_TYPES = ['CONTROL', 'EXPERIMENTAL'] as const;
export type VariantType = (typeof VARIANT_TYPES)[number];

export class VariantDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(253)
  id: string;

  @IsIn(VARIANT_TYPES)
  variant_type: VariantType;

  @IsOptional()
  @IsObject()
  overrides?: Record<string, unknown>;
}

/**
 * The experiment object Superposition sends as a webhook payload and answers on
 * `GET /experiments/{id}` (docs/contract.md §1). Only the fields Mayday reads are declared; the rest
 * (created_at, metrics, description, ...) are tolerated and ignored; `metrics_url` is kept as sent.
 */
export class ExperimentDto {
  /** A 64-bit integer as a string; never parsed into a JS number. */
  @IsString()
  @Matches(LABEL_VALUE_ID, {
    message: 'id must be an experiment id (digits, as Superposition sends it as a string)',
  })
  id: string;

  @IsOptional()
  @IsString()
  name?: string;

  @IsIn(EXPERIMENT_STATUSES)
  status: ExperimentStatus;

  @IsInt()
  @Min(0)
  @Max(100)
  traffic_percentage: number;

  @IsObject()
  context: Record<string, unknown>;

  @IsArray()
  @ArrayMinSize(2)
  @ArrayMaxSize(64)
  // class-validator would otherwise walk into an array element as if it were a variant.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => VariantDto)
  variants: VariantDto[];

  @IsOptional()
  @IsString()
  chosen_variant?: string | null;

  /** Orders events of one experiment (it grows with every change). */
  @IsOptional()
  @IsString()
  last_modified?: string;

  /** The experiment group while it runs (a 64-bit integer as a string); null while CREATED and again once finished. */
  @IsOptional()
  @IsString()
  @MaxLength(64)
  experiment_group_id?: string | null;

  /** Superposition's link to the experiment's dashboard, when it has a metrics source: any shape tolerated, shown when a string. */
  metrics_url?: unknown;
}

/** Rules class-validator cannot say per field: exactly one CONTROL, at least one EXPERIMENTAL, unique ids. */
export function variantProblems(experiment: ExperimentDto, path: string): string[] {
  const problems: string[] = [];
  const controls = experiment.variants.filter((variant) => variant.variant_type === 'CONTROL').length;
  if (controls !== 1) problems.push(`${path}.variants must hold exactly one CONTROL variant (found ${controls})`);
  if (!experiment.variants.some((variant) => variant.variant_type === 'EXPERIMENTAL')) {
    problems.push(`${path}.variants must hold at least one EXPERIMENTAL variant`);
  }
  const ids = new Set<string>();
  experiment.variants.forEach((variant, index) => {
    if (ids.has(variant.id)) problems.push(`${path}.variants.${index}.id "${variant.id}" appears twice`);
    ids.add(variant.id);
  });
  return problems;
}
