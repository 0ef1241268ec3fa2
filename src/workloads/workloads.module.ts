import { Module } from '@nestjs/common';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { WorkloadWatcher } from './workload-watcher.service';

@Module({
  imports: [KubernetesModule],
  providers: [WorkloadWatcher],
  exports: [WorkloadWatcher],
})
export class WorkloadsModule {}
