import {readFile} from 'node:fs/promises'

/**
 * Choosing a local cluster's subnet: a /24 out of 10.210.0.0/16 that overlaps no existing
 * Docker network and no host route. The node image keeps its inner dockerd on
 * 10.198.0.0/16 and 10.199.0.0/24, so they stay out of this range.
 */

/** An IPv4 range as a base address and a prefix length. */
export interface Cidr {
  base: number
  bits: number
}

/** Parses `a.b.c.d/n`; undefined for anything else (IPv6 subnets are simply ignored). */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(text.trim())
  if (!m) return undefined
  const octets = m.slice(1, 5).map(Number)
  const bits = Number(m[5])
  if (octets.some((o) => o > 255) || bits > 32) return undefined
  const base = octets.reduce((acc, o) => acc * 256 + o, 0)
  return {base: base - (base % 2 ** (32 - bits)), bits}
}

/** Formats an address held as a number. */
export function formatIp(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.')
}

/** True when the two ranges share an address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const aEnd = a.base + 2 ** (32 - a.bits)
  const bEnd = b.base + 2 ** (32 - b.bits)
  return a.base < bEnd && b.base < aEnd
}

/**
 * The candidate /24s in an order that starts at a random place, so that concurrent runs
 * seldom try the same one first (a collision still fails cleanly and the caller moves on).
 */
export function candidateSubnets(random: number = Math.random()): string[] {
  const start = Math.floor(random * 256)
  return Array.from({length: 256}, (_, i) => `10.210.${(start + i) % 256}.0/24`)
}

/** The candidates that overlap none of the ranges in use. */
export function freeSubnets(inUse: string[], candidates: string[] = candidateSubnets()): string[] {
  const used = inUse.map(parseCidr).filter((c): c is Cidr => c !== undefined && c.bits > 0)
  return candidates.filter((text) => {
    const c = parseCidr(text)
    return c !== undefined && !used.some((u) => overlaps(c, u))
  })
}

/** The host's IPv4 routes from /proc/net/route, default route left out. */
export async function hostRoutes(file = '/proc/net/route'): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const routes: string[] = []
  for (const line of text.split('\n').slice(1)) {
    const [, dest, , , , , , mask] = line.trim().split(/\s+/)
    if (!dest || !mask || mask === '00000000') continue
    // The kernel prints addresses as little-endian hex.
    const toNumber = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0)
    const bits = toNumber(mask).toString(2).replace(/0/g, '').length
    routes.push(`${formatIp(toNumber(dest))}/${bits}`)
  }
  return routes
}

/** The address `offset` places into a subnet (`.1` is the gateway, `.2` the registry). */
export function addressIn(subnet: string, offset: number): string {
  const c = parseCidr(subnet)
  if (!c) throw new Error(`not an IPv4 subnet: ${subnet}`)
  return formatIp(c.base + offset)
}
