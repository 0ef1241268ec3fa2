import { Module } from '@nestjs/common';
import { SuperpositionClient } from './superposition.client';

@Module({
  providers: [SuperpositionClient],
  exports: [SuperpositionClient],
})
export class SuperpositionModule {}
