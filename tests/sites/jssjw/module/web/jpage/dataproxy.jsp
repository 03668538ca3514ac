<?xml version="1.0" encoding="UTF-8"?>
<datastore>
<totalrecord>3</totalrecord>
<recordset>
<record><![CDATA[<li><a href='/art/2024/1/5/art_37_12345.html' title='中共南京市江宁区委关于十四届省委第四轮巡视整改进展情况的通报' target="_blank">中共南京市江宁区委关于十四届省委第四轮巡视整改进展情况的通报</a><span>2024-01-05</span></li>]]></record>
</recordset>
</datastore>
