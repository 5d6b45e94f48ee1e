-- Remote node -> pod (decapsulation) traffic for vxrouted: replay a pcap of
-- VXLAN frames with real inner pod packets (made by gen_vxlan_pcap.py).
-- Written for Pktgen-DPDK pktgen-23.03.0 (DPDK 22.11) from its documented
-- commands and Lua API (pktgen.pcap, pktgen.set, pktgen.start/stop,
-- pktgen.portStats, pktgen.quit). Not run on this machine: pktgen is not
-- packaged in Debian. Pktgen's own VXLAN option cannot be used here: it
-- writes an outer header plus filler (and VNI 0 in range mode).
--
-- Port 1 faces vxrouted's uplink and replays the pcap given with -s 1:FILE;
-- port 0 faces vxrouted's pod port and counts the decapsulated packets.
--
-- python3 scripts/pktgen/gen_vxlan_pcap.py -o /tmp/vxlan.pcap --uplink-mac <from vxroutectl show ports>
-- pktgen <EAL args> -- -P -m "[3].0,[4].1" -s 1:/tmp/vxlan.pcap -f scripts/pktgen/decap_pcap.lua </dev/null
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local pod_port    = "0"
local uplink_port = "1"
local rate        = tonumber(os.getenv("VXR_PG_RATE") or "100")   -- percent of port 1's link speed
local seconds     = tonumber(os.getenv("VXR_PG_SECONDS") or "10")

pktgen.screen("off")
pktgen.stop("all")
pktgen.clr()
pktgen.delay(2000)  -- vxrouted's vhost-user client has just connected; let the links settle

-- Send the frames loaded with -s 1:FILE, in a loop, instead of the single packet.
pktgen.pcap(uplink_port, "on")
pktgen.set(uplink_port, "rate", rate)

local function counts()
    local tx = pktgen.portStats(uplink_port, "port")[tonumber(uplink_port)]
    local rx = pktgen.portStats(pod_port, "port")[tonumber(pod_port)]
    return tx.opackets, rx.ipackets
end

local tx0, rx0 = counts()
pktgen.start(uplink_port)
pktgen.sleep(seconds)
pktgen.stop(uplink_port)
pktgen.delay(1000)  -- let what is still queued in vxrouted arrive
local tx1, rx1 = counts()

local tx, rx = tx1 - tx0, rx1 - rx0
local loss = 0
if tx > 0 then loss = (tx - rx) * 100.0 / tx end
printf("decap_pcap: rate %s%%, %ds: sent VXLAN %d, received at the pod %d (%.3f Mpps), loss %.4f%%\n",
       tostring(rate), seconds, tx, rx, rx / seconds / 1e6, loss)

pktgen.quit()
