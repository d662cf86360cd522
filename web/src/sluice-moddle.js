// The `sluice:` BPMN extension (namespace urn:sluice:bpmn:1) described for bpmn-js's moddle, so
// the modeller reads, edits and writes it as typed elements and attributes: connector inputs
// (`<sluice:input name value>` or with text), `sluice:resultVariable` on tasks,
// `sluice:correlationKey` on messages, the multi-instance attributes and a user task's
// `sluice:form` of typed `sluice:field`s (declared so that importing a model keeps them: an
// element of this namespace the descriptor does not know would be dropped). Everything else the
// modeller writes is standard BPMN (conditions, timers, messages, humanPerformer/potentialOwner).
export const SLUICE_NS = 'urn:sluice:bpmn:1';

export const sluiceModdle = {
  name: 'Sluice',
  uri: SLUICE_NS,
  prefix: 'sluice',
  xml: { tagAlias: 'lowerCase' },
  associations: [],
  types: [
    {
      name: 'Input',
      superClass: ['Element'],
      properties: [
        { name: 'name', isAttr: true, type: 'String' },
        { name: 'value', isAttr: true, type: 'String' },
        { name: 'text', isBody: true, type: 'String' },
      ],
    },
    {
      name: 'Form',
      superClass: ['Element'],
      properties: [
        { name: 'approval', isAttr: true, type: 'String' },
        { name: 'fields', isMany: true, type: 'Field' },
      ],
    },
    {
      name: 'Field',
      superClass: ['Element'],
      properties: [
        { name: 'id', isAttr: true, type: 'String' },
        { name: 'label', isAttr: true, type: 'String' },
        { name: 'type', isAttr: true, type: 'String' },
        { name: 'default', isAttr: true, type: 'String' },
        { name: 'required', isAttr: true, type: 'String' },
        { name: 'values', isMany: true, type: 'Value' },
      ],
    },
    {
      name: 'Value',
      superClass: ['Element'],
      properties: [
        { name: 'id', isAttr: true, type: 'String' },
        { name: 'name', isAttr: true, type: 'String' },
      ],
    },
    {
      name: 'ResultVariable',
      isAbstract: true,
      extends: ['bpmn:ServiceTask', 'bpmn:SendTask', 'bpmn:BusinessRuleTask', 'bpmn:ScriptTask'],
      properties: [{ name: 'resultVariable', isAttr: true, type: 'String' }],
    },
    {
      name: 'CorrelationKey',
      isAbstract: true,
      extends: ['bpmn:Message'],
      properties: [{ name: 'correlationKey', isAttr: true, type: 'String' }],
    },
    {
      name: 'MultiInstance',
      isAbstract: true,
      extends: ['bpmn:MultiInstanceLoopCharacteristics'],
      properties: [
        { name: 'collection', isAttr: true, type: 'String' },
        { name: 'elementVariable', isAttr: true, type: 'String' },
        { name: 'outputCollection', isAttr: true, type: 'String' },
        { name: 'outputElement', isAttr: true, type: 'String' },
      ],
    },
  ],
};
