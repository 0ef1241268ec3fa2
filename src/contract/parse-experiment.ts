import { PayloadValidationError, validatePlain } from '../common/validation';
import { ExperimentDto, variantProblems } from './experiment.dto';

/** An experiment object (webhook payload, Superposition's GET /experiments/{id}, a record), validated. */
export function parseExperiment(plain: unknown, path: string): ExperimentDto {
  const experiment = validatePlain(ExperimentDto, plain, path);
  const problems = variantProblems(experiment, path);
  if (problems.length > 0) throw new PayloadValidationError(problems);
  return experiment;
}
