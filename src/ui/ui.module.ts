import { Module } from '@nestjs/common';
import { UiController } from './ui.controller';

/** The rollout page (/ui/): static files; its data comes from the status API. */
@Module({ controllers: [UiController] })
export class UiModule {}
