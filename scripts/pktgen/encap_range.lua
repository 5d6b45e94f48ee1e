-- Pod -> remote node (encapsulation) traffic for vxrouted, range mode.
-- Written for Pktgen-DPDK pktgen-23.03.0 (DPDK 22.11) from its documented
-- commands and Lua API (pktgen.range.*, pktgen.set_range, pktgen.set,
-- pktgen.start/stop, pktgen.portStats, pktgen.quit). Not run on this
-- machine: pktgen is not packaged in Debian.
--
-- Port 0 faces vxrouted's pod port (pod "pg-pod" in vxrouted-pktgen.json):
-- frames from the pod's IP and MAC to the pod gateway's MAC (the VTEP MAC),
-- destinations walking 1,024 remote pod /24s (10.0.0.0/24 .. 10.3.255.0/24),
-- UDP source and destination ports walking too, so flows and routes vary.
-- Port 1 faces vxrouted's uplink and counts what comes out encapsulated.
--
-- pktgen <EAL args> -- -P -m "[3].0,[4].1" -f scripts/pktgen/encap_range.lua </dev/null
-- (see README.md in this directory for the EAL part).
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local pod_port   = "0"
local sink_port  = "1"
local pod_mac    = "02:00:00:00:01:02"   -- pods[0].mac in vxrouted-pktgen.json
local gw_mac     = "02:76:78:00:00:01"   -- vtep_mac: the pods' gateway answers with it
local pod_ip     = "10.244.1.2"          -- pods[0].ip: vxrouted drops other sources (anti-spoof)
local size       = tonumber(os.getenv("VXR_PG_SIZE") or "64")     -- frame size with FCS, <= 1468 (pod MTU 1450)
local rate       = tonumber(os.getenv("VXR_PG_RATE") or "100")    -- percent of port 0's link speed
local seconds    = tonumber(os.getenv("VXR_PG_SECONDS") or "10")

pktgen.screen("off")
pktgen.stop("all")
pktgen.clr()
pktgen.delay(2000)  -- vxrouted's vhost-user client has just connected; let the links settle

-- Range mode: every field has start/min/max/inc; pktgen walks them per packet.
pktgen.range.dst_mac(pod_port, "start", gw_mac)
pktgen.range.src_mac(pod_port, "start", pod_mac)

pktgen.range.src_ip(pod_port, "start", pod_ip)
pktgen.range.src_ip(pod_port, "inc", "0.0.0.0")
pktgen.range.src_ip(pod_port, "min", pod_ip)
pktgen.range.src_ip(pod_port, "max", pod_ip)

-- One address in each of 1,024 peer pod prefixes (one /24 per peer), then wrap.
pktgen.range.dst_ip(pod_port, "start", "10.0.0.2")
pktgen.range.dst_ip(pod_port, "inc", "0.0.1.0")
pktgen.range.dst_ip(pod_port, "min", "10.0.0.2")
pktgen.range.dst_ip(pod_port, "max", "10.3.255.2")

pktgen.range.src_port(pod_port, "start", 1024)
pktgen.range.src_port(pod_port, "inc", 1)
pktgen.range.src_port(pod_port, "min", 1024)
pktgen.range.src_port(pod_port, "max", 65000)

pktgen.range.dst_port(pod_port, "start", 5001)
pktgen.range.dst_port(pod_port, "inc", 7)
pktgen.range.dst_port(pod_port, "min", 5001)
pktgen.range.dst_port(pod_port, "max", 6000)

pktgen.range.ttl(pod_port, "start", 64)
pktgen.range.ttl(pod_port, "inc", 0)
pktgen.range.ttl(pod_port, "min", 64)
pktgen.range.ttl(pod_port, "max", 64)

pktgen.range.pkt_size(pod_port, "start", size)
pktgen.range.pkt_size(pod_port, "inc", 0)
pktgen.range.pkt_size(pod_port, "min", size)
pktgen.range.pkt_size(pod_port, "max", size)

-- Without this range mode sends TCP.
pktgen.range.ip_proto(pod_port, "udp")
pktgen.set_range(pod_port, "on")
pktgen.set(pod_port, "rate", rate)

local function counts()
    local tx = pktgen.portStats(pod_port, "port")[tonumber(pod_port)]
    local rx = pktgen.portStats(sink_port, "port")[tonumber(sink_port)]
    return tx.opackets, rx.ipackets
end

local tx0, rx0 = counts()
pktgen.start(pod_port)
pktgen.sleep(seconds)
pktgen.stop(pod_port)
pktgen.delay(1000)  -- let what is still queued in vxrouted arrive
local tx1, rx1 = counts()

local tx, rx = tx1 - tx0, rx1 - rx0
local loss = 0
if tx > 0 then loss = (tx - rx) * 100.0 / tx end
printf("encap_range: size %d, rate %s%%, %ds: sent %d, received encapsulated %d (%.3f Mpps), loss %.4f%%\n",
       size, tostring(rate), seconds, tx, rx, rx / seconds / 1e6, loss)

pktgen.quit()
