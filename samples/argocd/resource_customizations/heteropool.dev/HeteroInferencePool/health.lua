-- ArgoCD health of a HeteroInferencePool (heteropool.dev/v1alpha1).
-- Degraded=True wins and shows its message (e.g. an invalid spec: the running pods are untouched,
-- but the change did not apply). Healthy needs the operator to have seen this generation
-- (status.observedGeneration == metadata.generation) and Ready=True for it; a pool that serves
-- while its metrics are stale (MetricsStale=True) stays Healthy and says so. Anything else, no
-- status yet included, is Progressing. Uses only Lua 5.1 base functions (no string library).
local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the heteropool operator to report status"
  return hs
end
local ready = nil
local degraded = nil
local stale = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  elseif condition.type == "Degraded" then
    degraded = condition
  elseif condition.type == "MetricsStale" then
    stale = condition
  end
end
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = degraded.message or degraded.reason or "Degraded"
  return hs
end
if obj.status.observedGeneration == nil or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the heteropool operator to observe generation " .. tostring(generation)
  return hs
end
if ready ~= nil and ready.status == "True" and (ready.observedGeneration == nil or ready.observedGeneration == generation) then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  if stale ~= nil and stale.status == "True" then
    hs.message = hs.message .. "; metrics stale: " .. (stale.message or stale.reason or "")
  end
  return hs
end
hs.status = "Progressing"
if ready ~= nil and ready.message ~= nil then
  hs.message = ready.message
else
  hs.message = "Waiting for the pool to become Ready"
end
return hs
