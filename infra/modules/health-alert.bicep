// Azure Monitor log alert on dataflow health: a scheduled query over the app's Application Insights
// that fires when health_timer (or an Adobe I/O Events delivery) logged a dataflow turning unhealthy:
// the line "dataflow health: unhealthy ..." (WARNING) with health_status failing, stalled or disabled.
// One alert per dataflow (split by sandbox, namespace and event hub); the line is logged once per
// change, so the alert is not auto-resolved: the "dataflow health: recovered" line says it recovered.

@description('Azure region of the alert rule.')
param location string

@description('Name of the scheduled query rule.')
param alertName string

@description('Resource id of the Application Insights component the app logs to.')
param appInsightsId string

@description('How often the rule runs, and the span of log it reads (ISO 8601); as HEALTH_SCHEDULE by default.')
param evaluationFrequency string = 'PT15M'

@description('Severity of the alert: 0 (critical) to 4 (verbose).')
@minValue(0)
@maxValue(4)
param severity int = 1

@description('Action groups (resource ids) notified when the alert fires; empty: the alert shows in Azure Monitor only.')
param actionGroupIds array = []

@description('Tags applied to every resource.')
param tags object = {}

var unhealthyQuery = '''
traces
| where message startswith "dataflow health: unhealthy"
| extend status = tostring(customDimensions.health_status), sandbox = tostring(customDimensions.sandbox),
         namespace = tostring(customDimensions.namespace), eventHub = tostring(customDimensions.event_hub)
| where status in ("failing", "stalled", "disabled")
| project timestamp, sandbox, namespace, eventHub, status, message
'''

resource unhealthy 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: alertName
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Event Hubs to Adobe: a dataflow turned unhealthy'
    description: 'A dataflow turned failing, stalled or disabled: data from its event hub may not reach Adobe Experience Platform (python -m cli health lists every dataflow; docs/operations.md says what to do).'
    severity: severity
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: evaluationFrequency
    criteria: {
      allOf: [
        {
          query: unhealthyQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'sandbox'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'namespace'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'eventHub'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

output alertId string = unhealthy.id
