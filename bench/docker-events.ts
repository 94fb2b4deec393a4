import {execa} from 'execa'

/** One container `start` event of a node's dockerd, stamped by the node's clock (this host's). */
export interface StartEvent {
  ms: number
  name: string
  /** Its `berth.service` and `berth.spec-hash` labels ('' when it has none). */
  service: string
  hash: string
}

/**
 * Streams the container start events of the dockerd inside a node container (`docker events`
 * run in it), so a bench can time a change or a command to the moment its container started.
 */
export function startEvents(nodeContainer: string, filters: string[] = []): {next(test: (event: StartEvent) => boolean): Promise<StartEvent>; stop(): void} {
  const events = execa('docker', ['exec', nodeContainer, 'docker', 'events', '--filter', 'type=container', '--filter', 'event=start', ...filters.flatMap((f) => ['--filter', f]),
    '--format', '{{.TimeNano}} {{.Actor.Attributes.name}} {{index .Actor.Attributes "berth.service"}} {{index .Actor.Attributes "berth.spec-hash"}}'], {buffer: false, reject: false})
  const seen: StartEvent[] = []
  let wake: () => void = () => {}
  let partial = ''
  const label = (value: string | undefined) => (value === undefined || value === '<no value>' ? '' : value)
  events.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      const [nano, name, service, hash] = line.trim().split(' ')
      if (nano && name) seen.push({ms: Number(BigInt(nano) / 1000n) / 1000, name, service: label(service), hash: label(hash)})
    }
    wake()
  })
  return {
    /** The first event (seen since the last hit) that passes `test`; the events before it are dropped with it. */
    async next(test) {
      for (;;) {
        const at = seen.findIndex(test)
        if (at >= 0) return seen.splice(0, at + 1).at(-1)!
        await new Promise<void>((resolve) => (wake = resolve))
      }
    },
    stop: () => void events.kill(),
  }
}
