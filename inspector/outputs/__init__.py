"""Links to the line and the plant: a PLC over Modbus TCP, an OPC UA server, MQTT with an outbox."""
