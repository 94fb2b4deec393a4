import {BerthError, outputTail} from '../errors.js'
import type {BalancerHooks} from './machine.js'

/**
 * Balancer hooks from two shell commands (`--drain-command`, `--ready-command`), run on
 * this host with BERTH_MACHINE and BERTH_MACHINE_IP set; a non-zero exit fails the step.
 */
export function commandHooks(drain: string, ready: string): BalancerHooks {
  const run = async (command: string, machine: {name: string; ip: string}) => {
    const {execa} = await import('execa')
    const result = await execa('sh', ['-c', command], {env: {BERTH_MACHINE: machine.name, BERTH_MACHINE_IP: machine.ip}, reject: false, all: true})
    if (result.exitCode !== 0) throw new BerthError(`\`${command}\` for ${machine.name} exited with ${result.exitCode}: ${outputTail(result.all, 3, ' ')}`)
  }
  return {drain: (m) => run(drain, m), ready: (m) => run(ready, m)}
}
